"""Process memory: hand what a run freed back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys


def give_back_freed_memory() -> None:
    """Return the C heap's free pages to the operating system (glibc ``malloc_trim``).

    glibc keeps freed blocks for reuse, and once large blocks have been freed it serves even
    big numpy arrays from the heap: after a fine-tune or a day of simulated frames, hundreds
    of MiB sit free but resident. Called between the phases of a run; it changes no result.
    Does nothing where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
