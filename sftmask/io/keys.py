"""Keys of source records: a 64-bit hash of the fields a record was read with, the same on every run.

A record's key depends on its values only (not on its file, line or neighbours), so it decides
the same thing for the same record in every build: which split holds it out, whether it repeats
an earlier one, where a shuffle puts it. `mix` derives further independent 64-bit values from a
key (a seeded shuffle order, a sample that must not follow the held-out split).
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

KEY_COLUMN = "_sftmask_key"
"""Column of the record keys, carried with the labelled rows until the writer drops it."""
INTERNAL = "_sftmask"
"""The reader's own columns (file, line, originals of kept fields) start with this."""

U64 = npt.NDArray[np.uint64]


def record_keys(table: pa.RecordBatch | pa.Table) -> U64:
    """Per record, a 64-bit BLAKE2b of its fields (by name, in name order; the reader's own
    columns left out) as JSON."""
    names = sorted(name for name in table.schema.names if not name.startswith(INTERNAL))
    columns = [table.column(name).to_pylist() for name in names]
    keys = np.empty(table.num_rows, dtype=np.uint64)
    header = orjson.dumps(names)
    for row in range(table.num_rows):
        text = header + orjson.dumps([column[row] for column in columns], default=str)
        keys[row] = int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")
    return keys


def mix(keys: U64, salt: int) -> U64:
    """Another 64-bit value per key, independent of the key's own bits for each `salt`
    (SplitMix64's finaliser on key XOR a salted constant)."""
    with np.errstate(over="ignore"):
        z = keys ^ np.uint64((salt * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def fractions(keys: U64) -> npt.NDArray[np.float64]:
    """Keys as numbers in [0, 1) (their top 53 bits), to compare with a fraction."""
    return (keys >> np.uint64(11)).astype(np.float64) / float(2**53)
