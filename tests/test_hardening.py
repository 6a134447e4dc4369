"""`sftmask build` against faults, races and bad input (issue 12): nothing lost, nothing deleted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import RECORDS, rows_of, run, write_jsonl


def build(data: Path, tok: Path, out: Path, *args: str) -> Any:
    return run("build", str(data), "-t", str(tok), "-o", str(out), *args)


def one_line_error(result: Any) -> str:
    """The error of a failed CLI run: exactly one line on stderr, no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# --- 1. --overwrite replaces only a previous sftmask output or an empty directory ----------------


def test_overwrite_refuses_a_directory_holding_the_input(tmp_path: Path, qwen_path: Path) -> None:
    (tmp_path / "d").mkdir()
    data = write_jsonl(tmp_path / "d" / "in.jsonl", RECORDS)
    result = build(data, qwen_path, tmp_path / "d", "--overwrite")
    assert result.exit_code == 5
    assert "in.jsonl lies inside the output directory" in one_line_error(result)
    assert data.read_text().count("\n") == len(RECORDS)


def test_overwrite_refuses_a_directory_that_is_not_a_sftmask_output(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    checkout = tmp_path / "repo"
    (checkout / ".git").mkdir(parents=True)
    (checkout / "code.py").write_text("print(1)\n")
    result = build(data, qwen_path, checkout, "--overwrite")
    assert result.exit_code == 5 and "is not a sftmask output" in one_line_error(result)
    assert (checkout / "code.py").read_text() == "print(1)\n" and (checkout / ".git").is_dir()
    # A fake manifest that sftmask did not write does not count either.
    (checkout / "manifest.json").write_text("{}")
    assert build(data, qwen_path, checkout, "--overwrite").exit_code == 5 and (checkout / "code.py").exists()


def test_overwrite_replaces_a_previous_output_and_an_empty_directory(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out"
    out.mkdir()
    assert build(data, qwen_path, out).exit_code == 0  # empty: no --overwrite needed
    first = (out / "manifest.json").read_text()
    assert build(data, qwen_path, out).exit_code == 5
    again = build(data, qwen_path, out, "--overwrite", "--strategy", "all")
    assert again.exit_code == 0, again.output
    assert (out / "manifest.json").read_text() != first
    assert all(r["labels"] == r["input_ids"] for r in rows_of(out))


def test_output_dot_is_the_current_directory(tmp_path: Path, qwen_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = build(data, qwen_path, Path("."))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "work" / "manifest.json").exists()
    assert not list(tmp_path.glob(".*sftmask-*"))
    monkeypatch.chdir(tmp_path)  # the input is in '.': refused even with --overwrite
    result = build(Path("in.jsonl"), qwen_path, Path("."), "--overwrite")
    assert result.exit_code == 5 and "lies inside the output directory" in one_line_error(result)
