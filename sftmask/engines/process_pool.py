"""Worker processes for the local engine: `label_read_batch` over batches, results in input order,
with at most a few batches in flight (never the whole input)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from sftmask.errors import WorkerDied
from sftmask.io.readers import ReadBatch
from sftmask.labels.batch import Job, Labelled, label_read_batch

T = TypeVar("T")
R = TypeVar("R")


def run(batches: Iterator[ReadBatch], job: Job, *, workers: int, threads_per_worker: int) -> Iterator[Labelled]:
    """Label `batches` in `workers` spawned processes; the job is sent once to each."""
    yield from ordered_map(
        _label,
        batches,
        workers=workers,
        initializer=_init,
        initargs=(job,),
        threads_per_worker=threads_per_worker,
    )


_JOB: list[Job] = []


def _init(job: Job) -> None:
    # The job's session (with its tokenizer) arrives pickled (about a second) instead of being
    # prepared again (several seconds).
    _JOB[:] = [job]


def _label(batch: ReadBatch) -> Labelled:
    return label_read_batch(batch, _JOB[0])


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
    a "pickle data was truncated" traceback on the user's terminal.
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
