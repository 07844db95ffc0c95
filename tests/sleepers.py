"""A sweep task that only sleeps (stdlib only, so spawned workers start fast): for the
tests of worker lifetime."""

from __future__ import annotations

import os
import time
from pathlib import Path


def sleep_task(folder: str) -> None:
    """Record this worker's pid in ``folder``, then sleep far longer than any test."""
    (Path(folder) / str(os.getpid())).write_text("", encoding="utf-8")
    time.sleep(600)
