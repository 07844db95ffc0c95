"""SIGINT and SIGTERM in a fleetsim process: the record that a command was interrupted, and
blocks that run whole.

Python runs a signal's handler in the main thread between any two steps, whichever thread the
kernel delivered it to, and the KeyboardInterrupt it raises there can be lost on its way: a
finalizer only prints it, and library code called back from C (matplotlib drawing, say) may
clear it. So a ``fleetsim`` command notes the first signal here (``note``), and nothing is put in
place once one came (``raise_if_received``, before each rename into place: a run folder, a file
written whole, a sweep's tables)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

HANDLED = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []


def note(number: int) -> bool:
    """Record signal ``number``; returns whether it is the command's first."""
    if _received:
        return False
    _received.append(number)
    return True


def received() -> int | None:
    """The first signal the command was sent, or None."""
    return _received[0] if _received else None


def forget() -> None:
    """Start a command with no signal recorded."""
    _received.clear()


def raise_if_received() -> None:
    """Raise KeyboardInterrupt if the command was interrupted, even though the first
    KeyboardInterrupt was lost on its way (see the module's docstring)."""
    if _received:
        raise KeyboardInterrupt


@contextmanager
def held(block_threads: bool = False):
    """Run the block whole: a SIGINT or SIGTERM that comes meanwhile is raised once it is done.

    A thread's signal mask cannot hold a signal sent to the process back (the kernel hands it to
    any thread that does not block it, and Python then runs its handler in the main thread): the
    Python handlers are swapped for ones that only note the signal. Only the main thread can
    swap them; elsewhere the block just runs. ``block_threads`` also blocks both signals in
    this thread meanwhile, so that threads and processes it starts begin with them blocked."""
    came: list[int] = []
    in_main = threading.current_thread() is threading.main_thread()
    kept = {number: signal.getsignal(number) for number in HANDLED} if in_main else {}
    mask = None
    try:
        set_handlers(dict.fromkeys(kept, lambda number, _frame: came.append(number)))
        if block_threads and hasattr(signal, "pthread_sigmask"):
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(HANDLED))
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        set_handlers(kept)
        for number in came:
            signal.raise_signal(number)


def set_handlers(handlers: dict) -> None:
    """Set every handler of ``handlers``. ``signal.signal`` first runs the handler of a signal
    already come, which may raise before it sets anything: the rest are set all the same, and
    the interrupt raised after."""
    interrupt = None
    for number, handler in handlers.items():
        while signal.getsignal(number) is not handler:
            try:
                signal.signal(number, handler)
            except KeyboardInterrupt as err:
                interrupt = err
    if interrupt is not None:
        raise interrupt
