"""The hostile-input corpus (tests/hostile/): no traceback, no record lost, the accounting holds.

Every file is built with `--on-error skip`. A build that completes must account for every record:
`records_read == rows_written + rejected`, the shards hold `rows_written` rows, rejects.jsonl
holds `rejected` lines, and `records_read` is the number of records the file holds. A build that
fails gives its documented exit code, one `Error:` line, and leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sftmask.cli.app import EXIT_CODES, app

CORPUS = Path(__file__).resolve().parents[1] / "hostile"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())


def test_the_corpus_is_complete() -> None:
    # (files only: collecting make_corpus.py's doctests writes a __pycache__ folder beside them)
    files = {p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in ("expected.json", "make_corpus.py")}
    assert files == set(EXPECTED) and len(files) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("max_length", [None, 8])
def test_hostile_input(tmp_path: Path, qwen_path: Path, name: str, max_length: int | None) -> None:
    data = tmp_path / name
    shutil.copy(CORPUS / name, data)
    out = tmp_path / "o"
    args = ["build", str(data), "-t", str(qwen_path), "-o", str(out), "--on-error", "skip", "--json"]
    if max_length is not None:
        args += ["--max-length", str(max_length)]
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    expected = EXPECTED[name]
    assert result.exit_code == expected["exit"], result.output
    assert result.exit_code in EXIT_CODES
    if result.exit_code != 0:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no output, no temp dir, no lock
        return
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["records_read"] == counts["rows_written"] + counts["rejected"]
    if expected["records"] is not None:
        assert counts["records_read"] == expected["records"]
    rows = sum(pq.read_metadata(f).num_rows for f in out.glob("*.parquet"))
    assert rows == counts["rows_written"] == json.loads(result.stdout)["rows_written"]
    rejects_file = out / "rejects.jsonl"
    rejects = [json.loads(line) for line in rejects_file.read_text().splitlines()] if rejects_file.exists() else []
    assert len(rejects) == counts["rejected"] == sum(counts["rejected_by_reason"].values())
    assert all(r["file"] == str(data) and r["line"] >= 1 and r["reason"] for r in rejects)
    assert CliRunner().invoke(app, ["validate", str(out)]).exit_code == 0
