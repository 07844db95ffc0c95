"""What every ``fleetsim`` sub-command shares: consoles, user-error handling, the catalog.

User errors end in one message on stderr and exit code 2; set FLEETSIM_DEBUG=1 to see the
traceback instead.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import typer
from rich.console import Console

from fleetsim.errors import FleetsimError

stderr = Console(stderr=True)
stdout = Console()


@contextmanager
def _user_errors():
    """Turn FleetsimError into one clear message and exit code 2."""
    try:
        yield
    except FleetsimError as err:
        if os.environ.get("FLEETSIM_DEBUG"):
            raise
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None


def _catalog():
    from fleetsim.hardware.catalog import load_catalog

    return load_catalog()
