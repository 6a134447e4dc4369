"""Engines: what runs `label_read_batch` over a build's batches, keeping input order.

An engine is a function ``(reader, job) -> labelled batches`` in input order; the build wires
it between the reader and the writer. It iterates the reader for the batches (in this process),
or splits it with `RecordReader.for_file` to read the files where it labels them. Adding one is a new module here plus one line in
`ENGINES`: the labelling code is the same for all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sftmask.engines import local, ray
from sftmask.labelling import Job, Labelled
from sftmask.readers import RecordReader

Engine = Callable[[RecordReader, Job], Iterator[Labelled]]

ENGINES: dict[str, Engine] = {
    "local": local.run,
    "ray": ray.run,
}
"""Engines by their public name (`--engine`)."""
