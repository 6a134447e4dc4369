"""Overlap for the streaming build, in background threads, with bounded memory and order kept.

- `prefetch`: run an iterator (the reader) in a background thread a few items ahead.
- `BackgroundWriter`: run write calls in one background thread, in order.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

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
