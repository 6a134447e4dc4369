"""Worker processes for the local engine: `label_read_batch` over batches, results in input order,
with at most a few batches in flight (never the whole input)."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

from sftmask.labelling import Job, Labelled, label_read_batch
from sftmask.readers import ReadBatch

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
        executor = ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs)
    finally:
        if env_before is None:
            os.environ.pop("RAYON_NUM_THREADS", None)
        else:
            os.environ["RAYON_NUM_THREADS"] = env_before
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(executor.submit(func, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
