"""Engines: what runs `label_read_batch` over a build's batches, keeping input order.

An engine is a function ``(batches, job) -> labelled batches`` in input order; the build wires
it between the reader and the writer. Adding one is a new module here plus one line in
`ENGINES`: the labelling code is the same for all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sftmask.engines import local
from sftmask.labelling import Job, Labelled
from sftmask.readers import ReadBatch

Engine = Callable[[Iterator[ReadBatch], Job], Iterator[Labelled]]

ENGINES: dict[str, Engine] = {
    "local": local.run,
}
"""Engines by their public name (`--engine`)."""
