"""Worker processes for the local engine: `label_read_batch` over batches, results in input order,
with at most a few batches in flight (never the whole input)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from sftmask import supervision
from sftmask.errors import OutputError, WorkerDied
from sftmask.io.readers import ReadBatch
from sftmask.labels.batch import Job, Labelled, label_read_batch

T = TypeVar("T")
R = TypeVar("R")


def run(batches: Iterator[ReadBatch], job: Job, *, workers: int, threads_per_worker: int) -> Iterator[Labelled]:
    """Label `batches` in `workers` spawned processes; the job is sent once to each (through a file)."""
    with _job_file(job) as path:
        yield from ordered_map(
            _label,
            batches,
            workers=workers,
            initializer=_init,
            initargs=(str(path),),
            threads_per_worker=threads_per_worker,
        )


_JOB: list[Job] = []
JOB_FILE_PREFIX = "sftmask-job-"


@contextlib.contextmanager
def _job_file(job: Job) -> Iterator[Path]:
    """The pickled job in a temporary file, removed afterwards (and by the next build after a kill -9).

    The job (its tokenizer: megabytes) does not travel with the worker's start-up data: CPython
    writes that into a pipe whose read end the parent also holds, so a worker killed while
    starting left the parent blocked in that write forever. A file name fits the pipe.
    """
    _remove_stale_job_files()
    path: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=f"{JOB_FILE_PREFIX}{os.getpid()}-", suffix=".pickle")
        path = Path(name)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(job, f, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:
        if path is not None:
            path.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write the --num-proc workers' job file in {tempfile.gettempdir()}: {exc.strerror or exc}; "
            "free space there, or set TMPDIR to a directory with space"
        ) from exc
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _remove_stale_job_files() -> None:
    """Job files of builds whose process is gone (killed before removing theirs)."""
    for path in Path(tempfile.gettempdir()).glob(f"{JOB_FILE_PREFIX}*-*.pickle"):
        pid = path.name[len(JOB_FILE_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and supervision.gone(int(pid)):
            with contextlib.suppress(OSError):
                path.unlink()


def _init(path: str) -> None:
    # The job's session (with its tokenizer) arrives pickled (about a second) instead of being
    # prepared again (several seconds).
    with open(path, "rb") as f:
        _JOB[:] = [pickle.load(f)]


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
    found = getattr(executor, "_processes", None)  # pid -> Process, filled as workers start
    processes: dict[int, Any] = found if isinstance(found, dict) else {}
    pending: deque[Future[R]] = deque()
    finished = False
    try:
        for item in items:
            with _signals_held():  # a submit may start a worker
                pending.append(executor.submit(func, item))
            if len(pending) >= 2 * workers:
                yield _result(pending.popleft(), processes)
        while pending:
            yield _result(pending.popleft(), processes)
        finished = True
    except BrokenProcessPool as exc:
        raise WorkerDied(
            "a --num-proc worker process died (killed, perhaps by the out-of-memory killer); "
            "try a smaller --batch-size or fewer --num-proc"
        ) from exc
    finally:
        # Not `future.cancel()` here: the executor's thread sets an error on every future when it
        # finds the workers gone, and one cancelled by another thread made it crash (CPython 3.11).
        if not finished:  # an error or an interrupt: stop the workers now, not after their batch
            _stop_workers(executor)
        executor.shutdown(wait=True, cancel_futures=True)


POLL_SECONDS = 0.5
"""How often a wait for a result checks that every worker is alive."""
STOP_SECONDS = 5.0
"""How long a stopped worker gets to exit on SIGTERM before SIGKILL."""


def _result(future: Future[R], processes: dict[int, Any]) -> R:
    """The future's result; BrokenProcessPool as soon as a worker has exited.

    The executor finds a dead worker itself, except when the worker died halfway through sending
    a result: then the executor's thread waits for the rest of it forever.
    """
    while not wait([future], timeout=POLL_SECONDS).done:
        if any(process.exitcode is not None for process in list(processes.values())):
            raise BrokenProcessPool("a worker process exited")
    return future.result()


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


def _stop_workers(executor: ProcessPoolExecutor) -> None:
    """Stop every worker (SIGTERM, then SIGKILL), and free the executor's thread if a dead worker
    left it reading half a result: once no worker holds the result pipe, closing this process's
    end of it gives the reader end of file."""
    # `ProcessPoolExecutor.terminate_workers` arrives in Python 3.14; before it, its processes.
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                process.kill()
                process.join(STOP_SECONDS)
    writer = getattr(getattr(executor, "_result_queue", None), "_writer", None)
    if writer is not None:
        with contextlib.suppress(OSError):
            writer.close()
