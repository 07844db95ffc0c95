"""Where a sweep's runs execute: behind one small interface, ``Backend.map``.

``map(fn, tasks)`` calls the picklable module-level ``fn`` on every task and yields
results as they finish, in any order; ``fn`` must not raise (the sweep's run function
turns every failure into a result).

- ``inline``: in this process, one after another (``--workers 1``; for debugging).
- ``local``: a ``concurrent.futures.ProcessPoolExecutor`` of ``workers`` processes
  (default: the CPU count), started with ``spawn`` so no worker inherits the
  parent's threads (ONNX Runtime, BLAS). Workers end with the sweep: they ignore
  Ctrl-C (the sweep decides), are terminated when the sweep stops early (an error,
  Ctrl-C, SIGTERM), and end themselves when the sweep process dies (SIGKILL): on
  Linux through ``PR_SET_PDEATHSIG``, everywhere through a thread that watches the
  parent's pid.
- ``ray``: remote tasks on a Ray cluster: ``ray.init(address=...)`` joins an existing
  one (``auto``, ``HOST:PORT``; ``ray://HOST:PORT`` needs the Ray client extra), and
  with no address a local instance is started for the sweep and shut down after it.
  Each task reserves one CPU; ``workers`` caps the CPUs of a local instance. Workers
  on other machines need fleetsim installed (and any file the scenario names).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol

import fleetsim.interrupts as interrupts

BACKENDS = ("local", "ray")


class Backend(Protocol):
    """Runs ``fn`` over tasks and yields the results as they complete."""

    name: str

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]: ...


class InlineBackend:
    """Runs every task here, in order."""

    name = "inline"

    def map(self, fn, tasks):
        for task in tasks:
            yield fn(task)


PARENT_POLL_S = 0.5


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(1)


def end_with_parent(parent: int, started=None) -> None:
    """Worker initializer: ignore Ctrl-C, end on SIGTERM, die as soon as process ``parent`` does,
    then release the semaphore ``started`` to say this worker is ready."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    if started is not None:
        started.release()


def _await_workers(pool: ProcessPoolExecutor, started) -> None:
    """Wait until every worker of ``pool`` has run its initializer (or one has died).

    A worker ended while it still reads its start-up data from the parent prints an
    ``EOFError`` traceback; one ended after ``end_with_parent`` just dies."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for _ in processes:
        while not started.acquire(timeout=PARENT_POLL_S):
            if not all(process.is_alive() for process in processes):
                return


def _terminate(pool: ProcessPoolExecutor) -> None:
    """End every worker of ``pool`` now (their running tasks are abandoned)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.join(5)
        if process.is_alive():
            process.kill()


class LocalBackend:
    """A process pool on this machine whose workers end with it."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn, tasks):
        tasks = list(tasks)
        if not tasks:
            return
        context = multiprocessing.get_context("spawn")
        started = context.Semaphore(0)
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=context,
                                   initializer=end_with_parent, initargs=(os.getpid(), started))
        finished = False
        try:
            # No worker is left half-started (and printing why) by a signal; the workers begin with
            # both blocked (a Ctrl-C while they import prints nothing; end_with_parent lets SIGTERM in).
            with interrupts.held(block_threads=True):
                pending = {pool.submit(fn, t) for t in tasks}
                _await_workers(pool, started)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
            finished = True
        finally:
            if not finished:  # stopped early: an error, Ctrl-C, SIGTERM, or the caller let go
                _terminate(pool)
            pool.shutdown(wait=True, cancel_futures=True)


class RayBackend:
    """Remote tasks on an existing Ray cluster (``address``) or on a local instance."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None):
        self.address = address
        self.workers = workers

    def map(self, fn, tasks):
        try:
            import ray
        except ImportError:  # pragma: no cover - ray is a dependency
            from fleetsim.errors import FleetsimError

            raise FleetsimError("the ray backend needs Ray: pip install ray") from None
        tasks = list(tasks)
        if not tasks:
            return
        started = not ray.is_initialized()
        if started:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "configure_logging": False}
            if self.address:
                options["address"] = self.address
            elif self.workers:
                options["num_cpus"] = self.workers
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as err:
                from fleetsim.errors import FleetsimError

                raise FleetsimError(f"--address {self.address}: cannot join the Ray cluster: {err}") \
                    from None
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(fn)
            pending = [remote.remote(t) for t in tasks]
            try:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    for ref in done:
                        yield ray.get(ref)
            finally:
                for ref in pending:
                    ray.cancel(ref)
        finally:
            if started:
                ray.shutdown()


def make_backend(name: str, workers: int | None = None, address: str | None = None) -> Backend:
    """The backend called ``name``; ``workers == 1`` with ``local`` runs inline."""
    from fleetsim.errors import FleetsimError

    if name not in BACKENDS:
        raise FleetsimError(f"--backend {name!r} is not known (allowed: {', '.join(BACKENDS)})")
    if address and name != "ray":
        raise FleetsimError("--address is for --backend ray")
    if name == "ray":
        return RayBackend(address, workers)
    if workers == 1:
        return InlineBackend()
    return LocalBackend(workers)
