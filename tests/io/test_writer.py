"""sftmask/io/writer.py: the `datasets` features written into the shards' schema."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from sftmask.io.writer import features_dict

SIMPLE = [pa.string(), pa.large_string(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint64()]
SIMPLE += [pa.float16(), pa.float32(), pa.float64(), pa.bool_(), pa.null(), pa.binary(), pa.large_binary()]
OTHER = [pa.string_view(), pa.struct([("a", pa.int64())]), pa.timestamp("s"), pa.date32(), pa.large_list(pa.int64())]
OTHER += [pa.dictionary(pa.int32(), pa.string()), pa.list_(pa.struct([("a", pa.string())]))]


@pytest.mark.parametrize("kind", [*SIMPLE, *(pa.list_(k) for k in SIMPLE), pa.list_(pa.list_(pa.int32())), *OTHER])
def test_features_are_those_datasets_writes(kind: pa.DataType) -> None:
    """Numbers, bools, strings, binary, null and lists of them are described without importing
    `datasets` (which imports pandas); the JSON is the same as `Features.to_dict()`'s."""
    from datasets import Features

    schema = pa.schema([pa.field("input_ids", pa.list_(pa.int32())), pa.field("kept", kind)])
    theirs = Features.from_arrow_schema(schema).to_dict()
    assert json.dumps(features_dict(schema)) == json.dumps(theirs)
