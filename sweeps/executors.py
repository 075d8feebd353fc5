"""Where general-path tasks run: in this process, in a process pool, or on a Dask cluster.

All three expose one method, ``map_unordered(fn, items)``, which yields results as they finish
while keeping a bounded window of tasks in flight (the task list is a lazy iterator that may be
long). Results carry their own point index, so completion order does not matter; a task's
randomness comes from its seed, never from where it ran, so every executor gives the same rows.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from hwsim.errors import HwsimError, check

EXECUTORS: tuple[str, ...] = ("serial", "process", "dask")


class SerialExecutor:
    """Runs each task in this process, in order."""

    name = "serial"

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        """Stop at once (Ctrl-C): nothing runs elsewhere."""


class ProcessExecutor:
    """A ``concurrent.futures`` pool of ``processes`` worker processes (default: one per CPU;
    spawned: safe with torch and Numba)."""

    name = "process"

    def __init__(
        self,
        processes: int | None = None,
        initializer: Callable | None = None,
        initargs: tuple = (),
    ) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.processes = processes or os.cpu_count() or 1
        self.pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=mp.get_context("spawn"),
            initializer=_start_worker,
            initargs=(initializer, initargs),
        )

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        from concurrent.futures import FIRST_COMPLETED, wait

        window = 4 * self.processes
        it = iter(items)
        pending = self._submit(fn, itertools.islice(it, window))
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                yield f.result()
            pending |= self._submit(fn, itertools.islice(it, len(finished)))

    def _submit(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> set:
        # Workers start inside submit(). Ctrl-C is held back meanwhile, so they inherit a mask
        # that blocks it: the parent alone acts on it (ending them, see abort), and no worker
        # prints a traceback of its own, even one interrupted while still importing.
        with _sigint_held():
            return {self.pool.submit(fn, x) for x in items}

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop at once (Ctrl-C): drop queued tasks and end the workers mid-task; what they
        were computing was not stored, so a resumed run does it again."""
        processes = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            p.terminate()
        for p in processes:
            p.join()


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Block SIGINT in this thread for the block; one that arrived meanwhile is raised after."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not (
        threading.main_thread()
    ):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _start_worker(initializer: Callable | None, initargs: tuple) -> None:
    # Where signal masks are not inherited, ignore Ctrl-C here: the parent ends the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


class DaskExecutor:
    """Dask ``distributed``: a scheduler at ``address``, or a local cluster of ``processes``
    single-threaded worker processes.

    Uses ``Client.map(..., pure=False)``: seeded tasks with equal arguments must all run, not be
    deduplicated as Dask does for pure functions.
    """

    name = "dask"

    def __init__(
        self, address: str | None = None, processes: int | None = None, client: Any = None
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # the optional extra
            raise HwsimError(
                "executor", "dask", "needs dask distributed: pip install 'hwsim[dask]'"
            ) from exc
        self._own = client is None
        self.cluster = None
        if client is not None:
            self.client = client
        elif address:
            self.client = Client(address)
        else:
            self.cluster = LocalCluster(
                n_workers=processes or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self.client = Client(self.cluster)
        self.window = 4 * max(1, len(self.client.scheduler_info().get("workers", {})) or 1)

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed

        it = iter(items)
        while batch := list(itertools.islice(it, self.window)):
            futures = self.client.map(fn, batch, pure=False)
            for f in as_completed(futures):
                yield f.result()

    def close(self) -> None:
        if self._own:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()

    def abort(self) -> None:
        """Stop at once (Ctrl-C): tasks still running are cancelled with the client."""
        self.close()


def make_executor(name: str = "serial", processes: int | None = None, scheduler: str | None = None):
    """An executor by name: ``serial``, ``process`` or ``dask``; ``processes``: the pool's
    (or the local Dask cluster's) worker processes."""
    check(name in EXECUTORS, "executor", name, f"must be one of {EXECUTORS}")
    if processes is not None:
        check(
            isinstance(processes, int) and processes >= 1,
            "processes",
            processes,
            "must be an integer >= 1",
        )
    check(
        scheduler is None or name == "dask",
        "scheduler",
        scheduler,
        "only the dask executor takes a scheduler address",
    )
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(processes)
    return DaskExecutor(scheduler, processes)
