"""Overlap and parallelism for the streaming build, with bounded memory and input order kept.

- `prefetch`: run an iterator (the reader) in a background thread a few items ahead.
- `ordered_map`: run a function over items in worker processes, results in input order,
  with at most a few items in flight (never the whole input).
- `BackgroundWriter`: run write calls in one background thread, in order.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from sftmask.errors import WorkerDied

T = TypeVar("T")
R = TypeVar("R")


def prefetch(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run `source` in a background thread, `depth` items ahead.

    Parsing JSON for the next batch then overlaps the Rust tokenizer (which releases the GIL)
    working on this one. Exceptions in `source` are re-raised in the consumer.
    """
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                items.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # re-raised in the consumer thread
            put(("error", exc))

    thread = threading.Thread(target=produce, name="sftmask-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join(timeout=5)


def ordered_map(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    threads_per_worker: int,
) -> Iterator[R]:
    """`map(func, items)` over `workers` spawned processes, in order, 2 items in flight per worker.

    Each worker's Rust tokenizer gets `threads_per_worker` threads (RAYON_NUM_THREADS), so the
    processes do not oversubscribe the cores.
    """
    context = multiprocessing.get_context("spawn")
    env_before = os.environ.get("RAYON_NUM_THREADS")
    os.environ["RAYON_NUM_THREADS"] = str(threads_per_worker)  # inherited by the spawned workers
    try:
        executor = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(initializer, initargs)
        )
    finally:
        if env_before is None:
            os.environ.pop("RAYON_NUM_THREADS", None)
        else:
            os.environ["RAYON_NUM_THREADS"] = env_before
    # Once a worker is killed, the queue feeding the workers may be stuck writing to a pipe no
    # worker reads; without this, the executor joins that feeder thread forever (CPython 3.11).
    call_queue = getattr(executor, "_call_queue", None)
    if call_queue is not None:
        call_queue.cancel_join_thread()
    pending: deque[Future[R]] = deque()
    finished = False
    try:
        for item in items:
            with _signals_held():  # a submit may start a worker
                pending.append(executor.submit(func, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        finished = True
    except BrokenProcessPool as exc:
        raise WorkerDied(
            "a --num-proc worker process died (killed, perhaps by the out-of-memory killer); "
            "try a smaller --batch-size or fewer --num-proc"
        ) from exc
    finally:
        for future in pending:
            future.cancel()
        if not finished:  # an error or an interrupt: stop the workers now, not after their batch
            _terminate_workers(executor)
        executor.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them.

    Starting a worker writes its pickled set-up to it; interrupted halfway, the worker dies with
    an "pickle data was truncated" traceback on the user's terminal.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in caught:
            signal.raise_signal(signum)


def _start_worker(initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    """In each worker: exit when the parent dies, leave Ctrl-C to the parent, then `initializer`.

    Without the watchdog a worker whose parent was killed (kill -9, the OOM killer) goes on
    tokenizing its batch, holding its memory, for minutes.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles it and stops the workers
    parent = multiprocessing.parent_process()
    if parent is not None:

        def exit_with_parent() -> None:
            parent.join()  # returns when the parent's end of the spawn pipe closes: it has exited
            os._exit(1)

        threading.Thread(target=exit_with_parent, name="sftmask-parent-watch", daemon=True).start()
    initializer(*initargs)


def _terminate_workers(executor: ProcessPoolExecutor) -> None:
    # `ProcessPoolExecutor.terminate_workers` arrives in Python 3.14; before it, its processes.
    processes = getattr(executor, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.terminate()


class BackgroundWriter:
    """Runs write calls in one background thread, in submission order, at most `depth` queued.

    Parquet encoding and compression release the GIL, so writing overlaps tokenization.
    Errors surface on the next `submit` or on `close`.
    """

    def __init__(self, depth: int = 2) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sftmask-writer")
        self._pending: deque[Future[None]] = deque()
        self._depth = depth

    def submit(self, func: Callable[..., None], *args: Any) -> None:
        self._pending.append(self._executor.submit(func, *args))
        while len(self._pending) > self._depth or (self._pending and self._pending[0].done()):
            self._pending.popleft().result()

    def close(self) -> None:
        """Wait for all writes; re-raise the first error."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Drop the writes not started, wait for the one running; errors are not raised."""
        self._pending.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
