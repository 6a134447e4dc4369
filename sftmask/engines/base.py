"""What an engine is, once started for a build: a labelling pass and a pass over the inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sftmask.config.common import CommonOptions
from sftmask.io.readers import RecordReader
from sftmask.kinds.base import Collect
from sftmask.labels.batch import Job, Labelled


class Engine(Protocol):
    """A started engine (local processes, a Ray session): both passes of a build run on it."""

    def run(self, reader: RecordReader, job: Job) -> Iterator[Labelled]:
        """`label_read_batch` on every batch of the reader; the results in input order."""
        ...

    def scan(self, reader: RecordReader, collect: Collect) -> set[Any]:
        """A pass over the inputs before the labelling (a `kinds.base.Scan`): the union of what
        `collect` finds in the reader's batches, the same set as `kinds.base.scan_here`."""
        ...


EngineStart = Callable[[CommonOptions], AbstractContextManager[Engine]]
"""Starts an engine for one build (`with start(config) as engine:`) and stops what it started."""
