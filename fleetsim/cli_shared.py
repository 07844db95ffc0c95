"""What every ``fleetsim`` sub-command shares: consoles, the failure boundary, the catalog.

Every failure ends in one message on stderr and an exit code from ``EXIT_CODES``; set
FLEETSIM_DEBUG=1 (or pass ``--debug``) to see the traceback instead.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table

import fleetsim.interrupts as interrupts
from fleetsim.errors import FleetsimError

stderr = Console(stderr=True)
stdout = Console()


def table(*headers: str, right: tuple[str, ...] = (), title: str | None = None,
          caption: str | None = None, lines: bool = False) -> Table:
    """A table that reads in an 80-column log or CI as well as in a terminal: light rules, no
    outer edge, and cells that wrap (never cut with '…'); the columns named in ``right``
    (numbers) are right-aligned."""
    out = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                show_lines=lines, title_justify="left", caption_justify="left", collapse_padding=True)
    for header in headers:
        out.add_column(header, overflow="fold", justify="right" if header in right else "left")
    return out


def progress_bar(quiet: bool) -> bool:
    """Whether a command draws a live progress bar: on a terminal, outside CI, unless --quiet."""
    return not quiet and stderr.is_terminal and not os.environ.get("CI")


class ProgressLines:
    """Progress where no bar can be drawn (a log, CI, a notebook): a plain line on stderr when
    work starts, then at most one every ``every_s`` seconds of wall time, and when it ends."""

    def __init__(self, name: str, every_s: float = 5.0):
        self.name = name
        self.every_s = every_s
        self.started = time.monotonic()
        self._next = self.started

    def update(self, text: str, last: bool = False) -> None:
        now = time.monotonic()
        if last or now >= self._next:
            typer.echo(f"{self.name}: {text} ({now - self.started:.0f} s)", err=True)
            self._next = now + self.every_s


def fmt(value, digits: int = 4) -> str:
    """A figure in a table: integers with thousands separators, other numbers to ``digits``
    significant digits without an exponent (from 0.001 up), '-' for none."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:
        return "-"
    if value == 0 or 1e-3 <= abs(value) < 1e15:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(value)))) if value else 0
        return f"{value:,.{decimals}f}"
    return f"{value:.{digits - 1}g}"


EXIT_CODES = {0: "ok", 1: "run failed (a bug, or the machine: disk full, permissions, ONNX Runtime)",
              2: "bad input (scenario, model, run folder, options)",
              130: "interrupted (Ctrl-C; 143: SIGTERM)"}
"""What ``fleetsim`` exits with; printed by ``fleetsim --help``."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _unexpected(err: Exception) -> str:
    """The one line an error no boundary expected becomes."""
    return f"run failed: {type(err).__name__}: {_one_line(str(err))[:400]} (--debug shows the traceback)"


def _fail(message: str, code: int):
    if os.environ.get("FLEETSIM_DEBUG"):
        raise
    typer.echo(message, err=True)
    raise typer.Exit(code) from None


@contextmanager
def _user_errors():
    """The failure boundary: FleetsimError is one message and exit 2; an OS error (disk full,
    permissions) one line naming the file and exit 1; anything else one line and exit 1."""
    import click

    try:
        yield
    except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
        raise
    except FleetsimError as err:
        _fail(str(err), 2)
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        _fail(f"run failed: {where}{err.strerror or _one_line(str(err))}", 1)
    except Exception as err:  # the boundary: no traceback reaches the user without --debug
        _fail(_unexpected(err), 1)


INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""The exit code of a command ended by each signal (``fleetsim --help`` lists them)."""


def run_app(app) -> int:
    """Run the typer ``app`` as the process's command; returns the exit code.

    SIGINT and SIGTERM raise KeyboardInterrupt once (run folders and sweep workers clean up
    on the way out, a second signal is ignored) and end in ``interrupted`` and 130 or 143.
    The first is noted in ``fleetsim.interrupts``: should library code swallow its
    KeyboardInterrupt, nothing is put in place after it all the same.
    """
    resent: list[bool] = []  # the first interrupt was swallowed by a finalizer and is sent again

    def on_signal(signum, frame) -> None:
        if resent:
            resent.clear()
        elif not interrupts.note(signum):
            return
        raise KeyboardInterrupt

    previous_hook = sys.unraisablehook

    def on_unraisable(unraisable) -> None:
        """Python cannot raise out of a finalizer (a ``__del__``, a weakref callback): an
        interrupt that lands in one is only printed. Send the signal again instead."""
        if interrupts.received() and isinstance(unraisable.exc_value, KeyboardInterrupt):
            resent.append(True)
            threading.Timer(0.01, os.kill, (os.getpid(), interrupts.received())).start()
            return
        previous_hook(unraisable)

    interrupts.forget()
    for signum in INTERRUPTED:
        signal.signal(signum, on_signal)
    sys.unraisablehook = on_unraisable
    try:
        app()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except Exception as err:  # outside every command's boundary (e.g. rendering the outcome)
        if os.environ.get("FLEETSIM_DEBUG"):
            raise
        typer.echo(_unexpected(err), err=True)
        code = 1
    # A signal while the interpreter shuts down must not end it by SIGINT; the first one coming
    # just now raises as the handlers are set: it is recorded, and said below.
    with suppress(KeyboardInterrupt):
        interrupts.set_handlers(dict.fromkeys(INTERRUPTED, signal.SIG_IGN))
    sys.unraisablehook = previous_hook
    received = interrupts.received()
    interrupts.forget()  # the process may go on (an embedding caller): its next saves are its own
    if received:
        typer.echo("interrupted", err=True)
        return INTERRUPTED[received]
    return code


def _catalog(device_files: list[Path] | None = None):
    """The shipped catalog, with the device files named by ``--device-file`` if any."""
    from fleetsim.hardware.catalog import load_catalog

    catalog = load_catalog()
    return catalog.with_device_files(device_files) if device_files else catalog
