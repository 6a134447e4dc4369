"""The local engine: label batches in this process, or in `--num-proc` worker processes."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from sftmask.config.common import CommonOptions
from sftmask.io.background import prefetch
from sftmask.io.readers import RecordReader
from sftmask.kinds.base import Collect, scan_here
from sftmask.labels.batch import Job, Labelled, label_read_batch

log = logging.getLogger(__name__)


@contextlib.contextmanager
def start(config: CommonOptions) -> Iterator[LocalEngine]:
    """The local engine for a build (nothing to start: worker processes live for one `run`)."""
    yield LocalEngine()


class LocalEngine:
    """`run` and `scan` on this machine."""

    def run(self, reader: RecordReader, job: Job) -> Iterator[Labelled]:
        """See `run`."""
        return run(reader, job)

    def scan(self, reader: RecordReader, collect: Collect) -> set[Any]:
        """The pass over the inputs, in this process (`scan_here`)."""
        return scan_here(reader, collect)


def run(reader: RecordReader, job: Job) -> Iterator[Labelled]:
    """Label the reader's batches here, or in `job.config.num_proc` worker processes (same rows,
    same order); the reader runs a few batches ahead in a background thread."""
    batches = prefetch(iter(reader))
    requested = job.config.num_proc
    cores = os.cpu_count() or 1
    # The Rust tokenizer already spreads each batch over every core; worker processes only pay
    # off when each gets at least two cores (measured: 2 workers on 2 cores were ~20% slower).
    workers = min(requested, max(1, cores // 2))
    if workers < requested:
        log.info("--num-proc %d: using %d process(es) on %d cores", requested, workers, cores)
    if workers <= 1:
        for batch in batches:
            yield label_read_batch(batch, job)
        return
    from sftmask.engines import process_pool  # here: multiprocessing only for --num-proc workers

    yield from process_pool.run(batches, job, workers=workers, threads_per_worker=max(1, cores // workers))
