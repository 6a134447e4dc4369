"""`sftmask.io.readers.parts`: a big input read in parts gives the records of the whole file, each
once, in order, with the file's lines and rows (a part's JSON lines offset by its earlier parts'
lines, as the Ray engine does)."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from sftmask.io.readers import RecordReader, resolve_inputs
from sftmask.io.readers.parts import MIN_PART_BYTES, FilePart, LineRange, part_bytes, plan_parts

REPO = Path(__file__).resolve().parents[2]


@given(
    st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r\n", b"\n\n", b"xyz" * 20]), max_size=40),
    st.lists(st.integers(min_value=1, max_value=300), max_size=8),
)
def test_line_ranges_cover_the_file_once_at_line_boundaries(pieces: list[bytes], cuts: list[int]) -> None:
    """Whatever the cut points, the ranges' bytes are the file's, each a run of whole lines, and
    their line counts add up to the file's newlines."""
    data = b"".join(pieces)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    got, lines = [], 0
    for start, end in itertools.pairwise(bounds):
        stream = io.BufferedReader(LineRange(io.BytesIO(data), start, end), buffer_size=7)  # pieces smaller than lines
        chunk = stream.read()
        before = b"".join(got)
        assert not chunk or not before or before.endswith(b"\n")  # a range starts at a line's start
        got.append(chunk)
        lines += chunk.count(b"\n")
    assert b"".join(got) == data
    assert lines == data.count(b"\n")


def test_part_bytes_follow_the_batch_size_within_bounds() -> None:
    line = b'{"prompt": "' + b"x" * 985 + b'"}\n'  # 1,000 bytes a record
    assert part_bytes(1 << 40, line * 64, batch_size=1000) == 8 * 1000 * 1000
    assert part_bytes(1 << 40, line * 64, batch_size=1) == MIN_PART_BYTES
    assert part_bytes(1 << 40, b"no newline in the head", batch_size=1000) == 64 << 20


def reader(files: list[Any], **options: Any) -> RecordReader:
    defaults: dict[str, Any] = {"text_fields": ["prompt", "response"], "keep_fields": [], "batch_size": 16}
    return RecordReader(files, skip_errors=True, **(defaults | options))


def records(batches: Any, lines: int = 0) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line, prompt) of each record and (line, reason) of each reject, `lines` added."""
    rows, rejects = [], []
    for batch in batches:
        table = batch.table
        rows += [(n + lines, p) for n, p in zip(table.column("_sftmask_line").to_pylist(), table.column("prompt").to_pylist(), strict=True)]  # fmt: skip
        rejects += [(r.line + lines, r.reason) for r in batch.rejects]
    return rows, rejects


def test_json_lines_parts_give_the_file_records_and_lines(tmp_path: Path) -> None:
    """A file of the sample records with a byte order mark, CRLF ends, blank and broken lines, in
    parts of 64 KiB: the records, rejects and (offset) lines of reading it whole."""
    lines = (REPO / "sample_data" / "instructions.jsonl").read_text().splitlines()
    body = [*lines, *lines]
    body.insert(3, "")
    body.insert(450, '{"prompt": "broken')
    body.insert(451, "\ufeff" + lines[0])  # a BOM inside the file is no BOM: invalid JSON, as locally
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(body).encode() + b"\r\n")
    files = resolve_inputs([str(path)], None)
    whole = records(reader(files))
    parts = plan_parts(files, batch_size=16)
    assert len(parts) >= 5 and not any(p.whole for p in parts)
    got: tuple[list[Any], list[Any]] = ([], [])
    lines_before = 0
    for part in parts:
        one = reader(files).for_part(part)
        rows, rejects = records(one, lines_before)
        got[0].extend(rows)
        got[1].extend(rejects)
        lines_before += one.part_lines
    assert got == whole
    assert [line for line, _ in whole[1]] == [451, 452]


def test_compressed_and_small_files_stay_whole(tmp_path: Path) -> None:
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n")
    packed = tmp_path / "big.jsonl.gz"
    import gzip

    packed.write_bytes(gzip.compress((REPO / "sample_data" / "instructions.jsonl").read_bytes() * 4))
    files = resolve_inputs([str(small), str(packed)], None)
    assert plan_parts(files, batch_size=16) == [FilePart(0), FilePart(1)]


def test_parquet_parts_are_runs_of_row_groups_numbered_from_the_file_start(tmp_path: Path) -> None:
    lines = (REPO / "sample_data" / "instructions.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    rows[200]["response"] = None  # a reject in a later part, with its row
    path = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=40)
    files = resolve_inputs([str(path)], None)
    parts = plan_parts(files, batch_size=16)
    assert [(p.start, p.end, p.first_row) for p in parts] == [(0, 4, 0), (4, 8, 160)]
    got: tuple[list[Any], list[Any]] = ([], [])
    for part in parts:
        found = records(reader(files).for_part(part))
        got[0].extend(found[0])
        got[1].extend(found[1])
    assert got == records(reader(files))
    assert got[1] == [(200, "not-a-string")]


def test_a_file_whose_footer_cannot_be_read_stays_whole(tmp_path: Path) -> None:
    """Its reader then reports it in its turn, with the local engine's message."""
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    files = resolve_inputs([str(broken)], None)
    assert plan_parts(files, batch_size=16) == [FilePart(0)]
