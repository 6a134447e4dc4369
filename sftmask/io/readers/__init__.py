"""Input readers: JSONL / JSON arrays / CSV / TSV (optionally .gz / .zst, or stdin), Parquet and
Arrow files and `datasets` folders -> Arrow record batches.

One module per format (`jsonl`, `json_array`, `delimited`, `arrow`), the checks every record gets
(`checks`), and `RecordReader` (`reader`), which reads the inputs in order. What an input is and
how it is opened live beside this package (`sftmask.io.inputs`, `sftmask.io.compression`).
"""

from sftmask.io.compression import STDIN, TruncatedInput
from sftmask.io.inputs import (
    FILE_COLUMN,
    KEEP_PREFIX,
    LINE_COLUMN,
    TABLE_FORMATS,
    InputFile,
    ReadBatch,
    Reject,
    resolve_inputs,
)
from sftmask.io.readers.checks import json_text
from sftmask.io.readers.hints import suggest_data_kind
from sftmask.io.readers.reader import RecordReader, sample_records

__all__ = [
    "FILE_COLUMN",
    "KEEP_PREFIX",
    "LINE_COLUMN",
    "STDIN",
    "TABLE_FORMATS",
    "InputFile",
    "ReadBatch",
    "RecordReader",
    "Reject",
    "TruncatedInput",
    "json_text",
    "resolve_inputs",
    "sample_records",
    "suggest_data_kind",
]
