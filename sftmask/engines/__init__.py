"""Engines: what runs `label_read_batch` over a build's batches, keeping input order.

An engine is started once per build (`ENGINES[name](config)`, a context manager giving an
`Engine`) and then runs the build's passes: `scan`, a pass over the inputs some data kinds need
before encoding (word data's label set), and `run`, the labelling, ``(reader, job) -> labelled
batches`` in input order. Either iterates the reader for the batches (in this process), or splits
it with `RecordReader.for_file` to read the files where it works on them. Adding one is a new
module here plus one line in `ENGINES`: the labelling code is the same for all.
"""

from __future__ import annotations

from sftmask.engines import local, ray
from sftmask.engines.base import Engine, EngineStart

__all__ = ["ENGINES", "Engine", "EngineStart"]

ENGINES: dict[str, EngineStart] = {
    "local": local.start,
    "ray": ray.start,
}
"""Engines by their public name (`--engine`)."""
