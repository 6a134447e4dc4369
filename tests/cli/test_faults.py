"""`sftmask build` against faults, races and bad input (issue 12): nothing lost, nothing deleted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_build import RECORDS, rows_of, run, write_jsonl


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
    # Nor one nested too deep to parse (it was a RecursionError).
    deep = '{"sftmask_version": "0", "shards": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (checkout / "manifest.json").write_text(deep)
    result = build(data, qwen_path, checkout, "--overwrite")
    assert result.exit_code == 5 and "is not a sftmask output" in one_line_error(result)


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


# --- 2. a truncated or corrupt compressed input fails; every frame of a .zst is read ----------------


def _zstd_blocks(records: list[dict[str, Any]], per_block: int, ends: list[int] | None = None) -> bytes:
    """Records compressed as one zstd frame of blocks of `per_block` records (`ends`: where each block ends)."""
    import io

    import zstandard

    lines = [json.dumps(r).encode() + b"\n" for r in records]
    buffer = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(buffer, closefd=False) as writer:
        for start in range(0, len(lines), per_block):
            writer.write(b"".join(lines[start : start + per_block]))
            writer.flush(zstandard.FLUSH_BLOCK)  # a block boundary here
            if ends is not None:
                ends.append(buffer.tell())
    return buffer.getvalue()


MANY = [{"prompt": f"Question {i}?\n", "response": f"Answer {i}."} for i in range(5000)]


def test_zstd_cut_at_a_block_boundary_is_truncated(tmp_path: Path, qwen_path: Path) -> None:
    import zstandard

    ends: list[int] = []
    whole = _zstd_blocks(MANY, 1000, ends)
    cut = ends[0]  # after the first block: what is left decompresses to 1,000 complete records
    assert zstandard.ZstdDecompressor().stream_reader(whole[:cut]).read().count(b"\n") == 1000
    for name, data in (("block.jsonl.zst", whole[:cut]), ("mid.jsonl.zst", whole[: len(whole) // 2])):
        path = tmp_path / name
        path.write_bytes(data)
        result = build(path, qwen_path, tmp_path / f"o-{name}", "--on-error", "skip")
        assert result.exit_code == 3 and f"{path}: truncated" in one_line_error(result)
        assert not (tmp_path / f"o-{name}").exists()


def test_corrupt_zstd_and_truncated_gzip_are_one_line_errors(tmp_path: Path, qwen_path: Path) -> None:
    import gzip

    whole = bytearray(_zstd_blocks(MANY[:500], 100))
    whole[len(whole) // 2 : len(whole) // 2 + 8] = b"\xff" * 8
    corrupt = tmp_path / "c.jsonl.zst"
    corrupt.write_bytes(bytes(whole))
    result = build(corrupt, qwen_path, tmp_path / "o1")
    assert result.exit_code == 3 and f"{corrupt}: cannot read input: corrupt zstd data" in one_line_error(result)
    packed = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in MANY[:500]))
    cut = tmp_path / "g.jsonl.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    result = build(cut, qwen_path, tmp_path / "o2")
    assert result.exit_code == 3 and f"{cut}: truncated" in one_line_error(result)


def test_every_frame_of_a_multi_frame_zstd_is_read(tmp_path: Path, qwen_path: Path) -> None:
    path = tmp_path / "frames.jsonl.zst"  # as pzstd or `cat a.zst b.zst` write
    path.write_bytes(_zstd_blocks(MANY[:300], 300) + _zstd_blocks(MANY[300:700], 400))
    result = build(path, qwen_path, tmp_path / "o", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records_read"] == 700


# --- 3. kept columns cannot replace the token columns --------------------------------------------


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        ("labels", "'labels' is a column sftmask writes"),
        ("id,input_ids", "'input_ids' is a column sftmask writes"),
        ("attention_mask", "'attention_mask' is a column sftmask writes"),
        ("id,id", "'id' given more than once"),
        ("_sftmask_line", "names starting with '_sftmask' are sftmask's own"),
    ],
)
def test_keep_columns_cannot_clash(tmp_path: Path, qwen_path: Path, keep: str, message: str) -> None:
    records = [{**r, "labels": [1, 2], "input_ids": "x", "attention_mask": 0, "_sftmask_line": 9} for r in RECORDS]
    data = write_jsonl(tmp_path / "in.jsonl", records)
    result = build(data, qwen_path, tmp_path / "o", "--keep-columns", keep)
    assert result.exit_code == 2 and message in one_line_error(result)
    assert not (tmp_path / "o").exists()


# --- 4. one build at a time per output; leftovers of killed builds -----------------------------


def _sftmask(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sftmask", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`sftmask ARGS` in a subprocess (its log lines on stderr, as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "sftmask", *args], capture_output=True, text=True, timeout=300)


def _wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_second_build_to_the_same_output_exits_5_while_the_first_runs(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", MANY)
    out = tmp_path / "o"
    first = _sftmask("build", str(data), "-t", str(qwen_path), "-o", str(out), "--batch-size", "100")
    _wait_for(lambda: list(tmp_path.glob(".o.sftmask-tmp-*")))
    second = build(data, qwen_path, out, "--strategy", "all")
    assert second.exit_code == 5
    assert f"is being written by another sftmask build (pid {first.pid})" in one_line_error(second)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["strategy"] == "response-only" and manifest["counts"]["rows_written"] == len(MANY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "o"]  # no lock or temp left
    later = build(data, qwen_path, out, "--strategy", "all")  # after it: refused, not replaced
    assert later.exit_code == 5 and "pass --overwrite" in one_line_error(later)


def test_temp_dir_of_a_killed_build_is_removed_by_the_next_build(
    tmp_path: Path, qwen_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", MANY)
    out = tmp_path / "o"
    killed = _sftmask("build", str(data), "-t", str(qwen_path), "-o", str(out))
    _wait_for(lambda: list(tmp_path.glob(".o.sftmask-tmp-*")))
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    stale = tmp_path / f".o.sftmask-tmp-{killed.pid}"
    assert stale.is_dir() and not out.exists()
    # The next build runs in here; a user sees its note on stderr (test_workers_die_with_their_killed_parent).
    result = build(data, qwen_path, out)
    assert result.exit_code == 0, result.output
    assert f"removed {stale.name}, left by a killed build" in caplog.text
    assert not stale.exists() and (out / "manifest.json").exists()


def test_a_swap_killed_between_its_renames_is_finished_by_the_next_build(
    tmp_path: Path, qwen_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    out, new = tmp_path / "o", tmp_path / "new"
    assert build(data, qwen_path, out).exit_code == 0
    assert build(data, qwen_path, new, "--strategy", "all").exit_code == 0
    # What a kill between commit's two renames leaves: the old output moved aside, the new one
    # complete under its temporary name, nothing at the output path.
    out.rename(tmp_path / ".o.sftmask-old-4000001")
    new.rename(tmp_path / ".o.sftmask-tmp-4000001")
    result = build(data, qwen_path, out)
    assert result.exit_code == 5 and "pass --overwrite" in result.stderr  # it exists again
    assert "restored" in caplog.text and "removed .o.sftmask-old-4000001" in caplog.text
    assert json.loads((out / "manifest.json").read_text())["config"]["strategy"] == "all"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "o"]
    # Killed after moving the old output aside but before the new one was complete: the old returns.
    out.rename(tmp_path / ".o.sftmask-old-4000002")
    (tmp_path / ".o.sftmask-tmp-4000002").mkdir()
    (tmp_path / ".o.sftmask-tmp-4000002" / "train-00000.partial").write_bytes(b"PAR1")
    assert run("validate", str(out)).exit_code == 3
    caplog.clear()
    result = build(data, qwen_path, out, "--overwrite")
    assert result.exit_code == 0 and "restored" in caplog.text, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "o"]


# --- 5. kept columns keep one type, or fail at the record that changes it ----------------------


def _with_meta(values: list[Any]) -> list[dict[str, Any]]:
    return [{"prompt": f"Q{i}?", "response": f"A{i}.", "meta": v} for i, v in enumerate(values)]


def test_kept_column_null_first_then_strings_gets_the_string_type(tmp_path: Path, qwen_path: Path) -> None:
    import pyarrow.parquet as pq

    values = [None, None, None, "x", None, "y", "z"]
    data = write_jsonl(tmp_path / "in.jsonl", _with_meta(values))
    out = tmp_path / "o"
    result = build(data, qwen_path, out, "--keep-columns", "meta", "--batch-size", "2", "--rows-per-shard", "2")
    assert result.exit_code == 0, result.output
    assert [r["meta"] for r in rows_of(out)] == values
    assert {str(pq.read_schema(f).field("meta").type) for f in out.glob("*.parquet")} == {"string"}
    assert run("validate", str(out)).exit_code == 0
    from datasets import load_dataset

    assert load_dataset("parquet", data_dir=str(out))["train"]["meta"] == values


def test_kept_struct_with_fewer_keys_is_null_there(tmp_path: Path, qwen_path: Path) -> None:
    values = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3}, None]
    data = write_jsonl(tmp_path / "in.jsonl", _with_meta(values))
    out = tmp_path / "o"
    assert build(data, qwen_path, out, "--keep-columns", "meta", "--batch-size", "2").exit_code == 0
    assert [r["meta"] for r in rows_of(out)] == [*values[:2], {"a": 3, "b": None}, None]


@pytest.mark.parametrize(
    ("values", "line", "message"),
    [
        ([{"a": 1}, {"a": 2}, {"a": 3, "b": "new"}], 3, "changes type: struct<a: int64, b: string> here"),
        ([1, 2, "three"], 3, "changes type: string here, int64 in earlier records"),
        ([1, "two", 3], 2, "changes type: string here, int64 in earlier records"),  # within one batch
    ],
)
def test_kept_column_changing_type_fails_at_its_line(
    tmp_path: Path, qwen_path: Path, values: list[Any], line: int, message: str
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", _with_meta(values))
    result = build(data, qwen_path, tmp_path / "o", "--keep-columns", "meta", "--batch-size", "2")
    assert result.exit_code == 3
    error = one_line_error(result)
    assert f"{data}:{line}: kept column 'meta' {message}" in error
    assert not (tmp_path / "o").exists()


# --- 6. CSV with duplicate header names -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_duplicate_csv_header_fails(tmp_path: Path, qwen_path: Path, fmt: str) -> None:
    sep = "," if fmt == "csv" else "\t"
    data = tmp_path / f"in.{fmt}"
    data.write_text(sep.join(["prompt", "response", "response"]) + "\n" + sep.join(["Q?", "first", "second"]) + "\n")
    result = build(data, qwen_path, tmp_path / "o", "--on-error", "skip")
    assert result.exit_code == 3
    assert f"{data}:1: the header names column(s) 'response' more than once" in one_line_error(result)
    assert not (tmp_path / "o").exists()


# --- exit status a pipeline can trust ----------------------------------------------------------


def test_every_record_rejected_exits_3_and_writes_nothing(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "p", "answer": "a"}] * 3)
    result = build(data, qwen_path, tmp_path / "o", "--on-error", "skip")
    assert result.exit_code == 3
    error = one_line_error(result)
    assert "no row written: all 3 records were rejected (missing-field: 3)" in error
    assert f"first: {data}:1: field 'response' not found" in error
    assert not (tmp_path / "o").exists()


def test_max_reject_rate(tmp_path: Path, qwen_path: Path) -> None:
    records = [*RECORDS, {"prompt": 1, "response": "x"}]  # 1 of 5 rejected: 20%
    data = write_jsonl(tmp_path / "in.jsonl", records)
    strict = build(data, qwen_path, tmp_path / "a", "--on-error", "skip", "--max-reject-rate", "0.1")
    assert strict.exit_code == 3
    error = one_line_error(strict)
    assert "1 of 5 records rejected (20.0%; not-a-string: 1), more than --max-reject-rate 0.1" in error
    assert f"first: {data}:5: field 'prompt' is int" in error and not (tmp_path / "a").exists()
    loose = build(data, qwen_path, tmp_path / "b", "--on-error", "skip", "--max-reject-rate", "0.2", "--json")
    assert loose.exit_code == 0 and json.loads(loose.stdout)["rejected"] == 1
    bad = build(data, qwen_path, tmp_path / "c", "--max-reject-rate", "1.5")
    assert bad.exit_code == 2 and "max-reject-rate" in one_line_error(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-length", str(10**30)], "max-length: Input should be less than or equal to 2147483647"),
        (["--batch-size", str(10**30)], "batch-size: Input should be less than or equal to 2147483647"),
        (["--keep-columns", "id,id"], "'id' given more than once"),
    ],
)
def test_huge_or_repeated_options_are_one_line_errors(
    tmp_path: Path, qwen_path: Path, args: list[str], message: str
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    result = build(data, qwen_path, tmp_path / "o", *args)
    assert result.exit_code == 2 and message in one_line_error(result)


def test_config_and_template_files_that_are_not_utf8_or_too_big(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"strategy: all\nsplit: caf\xe9\n")
    result = build(data, qwen_path, tmp_path / "o", "--config", str(cfg))
    assert result.exit_code == 2 and "byte 0xe9 at byte 25 is not valid UTF-8" in one_line_error(result)
    chat = tmp_path / "t.jinja"
    chat.write_bytes(b"{{ messages }}\xff")
    result = build(data, qwen_path, tmp_path / "o", "--template", "chat", "--chat-template", str(chat))
    assert result.exit_code == 2 and "is not valid UTF-8" in one_line_error(result)
    big = tmp_path / "big.yaml"
    big.write_text("prompt: '{prompt}'\nresponse: '{response}'\ndescription: '" + "x" * (2 << 20) + "'\n")
    result = build(data, qwen_path, tmp_path / "o", "--template", str(big))
    assert result.exit_code == 2 and "larger than 1,048,576 bytes" in one_line_error(result)


@pytest.mark.parametrize(
    "placeholder",
    ["{prompt:{response}}", "{prompt:Z}", "{prompt:>2000000000}", "{prompt!r}", "{prompt:^{response}}"],
)
def test_template_placeholders_are_plain_fields_only(tmp_path: Path, qwen_path: Path, placeholder: str) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "Hi", "response": "*^21"}])
    template = tmp_path / "t.yaml"
    template.write_text(json.dumps({"prompt": f"Q: {placeholder}\n", "response": "{response}"}))
    result = build(data, qwen_path, tmp_path / "o", "--template", str(template))
    assert result.exit_code == 2
    assert "only plain {field} placeholders are allowed" in one_line_error(result)


def test_yaml_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path: Path, qwen_path: Path) -> None:
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = "\n".join(lines) + "\nprompt: *a9\nresponse: '{response}'\n"
    data = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    for name in ("t.yaml", "c.yaml"):
        (tmp_path / name).write_text(bomb)
    started = time.monotonic()
    result = build(data, qwen_path, tmp_path / "o", "--template", str(tmp_path / "t.yaml"))
    assert result.exit_code == 2 and "aliases (*name) are not allowed" in one_line_error(result)
    assert len(result.stderr) < 1000
    result = build(data, qwen_path, tmp_path / "o", "--config", str(tmp_path / "c.yaml"))
    assert result.exit_code == 2 and "aliases (*name) are not allowed" in one_line_error(result)
    assert time.monotonic() - started < 60


# --- faults: signals, dead workers, a full disk (real signals, real processes) ------------------

# `sftmask` with os.cpu_count() patched, so that --num-proc starts worker processes on any machine.
WITH_WORKERS = (
    "import os, sys; os.cpu_count = lambda: 8; from sftmask.cli.app import app; sys.exit(app(prog_name='sftmask'))"
)


def _sftmask_with_workers(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WITH_WORKERS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has exited, it waits to be reaped


def _workers_of(pid: int) -> list[int]:
    """Live spawned worker processes (not multiprocessing's resource tracker) whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmdline and _alive(int(stat.parent.name)):
            found.append(int(stat.parent.name))
    return found


BIG = [{"prompt": f"Question {i}: " + "words " * 40, "response": f"Answer {i}. " + "more " * 40} for i in range(20000)]


def _start_time(pid: int) -> int:
    """When a process started (clock ticks since boot)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name != "in.jsonl")


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGTERM, 143, "Terminated"), (signal.SIGINT, 130, "Interrupted")]
)
def test_sigterm_cleans_up_like_sigint(tmp_path: Path, qwen_path: Path, sig: int, code: int, word: str) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", BIG)
    proc = _sftmask("build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "o"), "--batch-size", "100")
    _wait_for(lambda: list(tmp_path.glob(".o.sftmask-tmp-*/*.partial")))  # writing shards
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code and stderr == f"{word}; no output written.\n"
    assert _leftovers(tmp_path) == []


def test_workers_die_with_their_killed_parent(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", BIG)
    proc = _sftmask_with_workers("build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "o"), "--num-proc", "2")
    _wait_for(lambda: len(_workers_of(proc.pid)) == 2, timeout=240)  # spawning is slow on a busy machine
    workers = _workers_of(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _wait_for(lambda: not any(_alive(w) for w in workers), timeout=20)
    # The next build cleans what kill -9 left (the temporary directory).
    result = cli(
        "build", str(tmp_path / "in.jsonl"), "-t", str(qwen_path), "-o", str(tmp_path / "o"), "--batch-size", "5000"
    )
    assert result.returncode == 0 and "left by a killed build" in result.stderr
    assert _leftovers(tmp_path) == ["o"]


def test_sigterm_stops_the_workers_too(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", BIG)
    proc = _sftmask_with_workers("build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "o"), "--num-proc", "2")
    _wait_for(lambda: len(_workers_of(proc.pid)) == 2, timeout=240)  # spawning is slow on a busy machine
    workers = _workers_of(proc.pid)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143 and stderr == "Terminated; no output written.\n", stderr
    assert not any(_alive(w) for w in workers) and _leftovers(tmp_path) == []


def test_a_killed_worker_is_a_one_line_error(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", BIG)
    proc = _sftmask_with_workers("build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "o"), "--num-proc", "2")
    _wait_for(lambda: len(_workers_of(proc.pid)) == 2, timeout=240)  # spawning is slow on a busy machine
    workers = _workers_of(proc.pid)
    time.sleep(1)
    os.kill(workers[0], signal.SIGKILL)  # as the out-of-memory killer does
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 7, stderr
    assert stderr.startswith("Error: a --num-proc worker process died") and stderr.count("\n") == 1, stderr
    assert not any(_alive(w) for w in workers) and _leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_worker_killed_while_starting_ends_the_build_in_seconds(tmp_path: Path, qwen_path: Path) -> None:
    """Starting a worker, the parent writes its set-up into a pipe that the parent itself holds open too
    (CPython): with the job (megabytes) in it, a worker killed then left the build blocked in that
    write forever (issue 24). Now the set-up names a file and fits the pipe."""
    data = write_jsonl(tmp_path / "in.jsonl", BIG)
    proc = _sftmask_with_workers("build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "o"), "--num-proc", "2")
    try:
        _wait_for(lambda: len(_workers_of(proc.pid)) == 2, timeout=240)
        first, starting = sorted(_workers_of(proc.pid), key=_start_time)
        os.kill(starting, signal.SIGKILL)  # while the parent writes its set-up (it takes seconds)
        killed = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 7, stderr
    assert stderr.startswith("Error: a --num-proc worker process died") and stderr.count("\n") == 1, stderr
    assert took < 20, took
    assert not _alive(first) and _leftovers(tmp_path) == []


def test_workers_job_file_that_cannot_be_written_is_one_line(
    tmp_path: Path, qwen_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    data = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_dir))
    monkeypatch.setattr(os, "cpu_count", lambda: 8)  # so that --num-proc 2 starts workers
    result = build(data, qwen_path, tmp_path / "o", "--num-proc", "2")
    assert result.exit_code == 5
    assert one_line_error(result).startswith(f"Error: cannot write the --num-proc workers' job file in {not_a_dir}: ")
    assert _leftovers(tmp_path) == ["file"]


def test_disk_full_is_exit_5_with_one_line(tmp_path: Path, qwen_path: Path) -> None:
    import resource

    data = write_jsonl(tmp_path / "in.jsonl", BIG[:5000])

    def small_files() -> None:  # every file the build writes may hold at most 8 KiB: EFBIG past it
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 10, 8 << 10))

    result = subprocess.run(
        [sys.executable, "-m", "sftmask", "build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=300,
    )
    assert result.returncode == 5, result.stderr
    assert result.stderr.startswith(f"Error: cannot write the output {tmp_path / 'o'}: ")
    assert "File too large" in result.stderr and "nothing was written" in result.stderr
    assert result.stderr.count("\n") == 1 and _leftovers(tmp_path) == []


# --- resource limits ------------------------------------------------------------------------------


def test_a_batch_is_bounded_by_the_text_it_holds_not_only_by_records(
    tmp_path: Path, qwen_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    from sftmask.io.readers import reader

    monkeypatch.setattr(reader, "MAX_BATCH_CHARS", 1000)  # instead of 32 Mi characters
    import sftmask

    records = [{"prompt": f"Question {i}: " + "x" * 80, "response": "y" * 100} for i in range(50)]
    data = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "o"
    seen: list[int] = []  # records read after each batch
    sftmask.build(
        inputs=[str(data)],
        tokenizer=str(qwen_path),
        output=str(out),
        batch_size=10**9,
        on_progress=lambda progress: seen.append(progress.records),
    )
    # A record holds 192-193 characters, so a batch ends at its 6th record (past 1,000
    # characters): 8 batches of 6 and one of 2.
    assert seen == [6, 12, 18, 24, 30, 36, 42, 48, 50]
    assert len(rows_of(out)) == 50


def test_shard_bytes_do_not_depend_on_where_batches_end(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    """Row groups of 1,000 rows whatever the batches: --batch-size changes nothing in the output."""
    import pyarrow.parquet as pq

    lines = (Path(__file__).resolve().parents[2] / "sample_data" / "instructions.jsonl").read_text().splitlines()
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(lines * 8) + "\n")  # 2,400 records: 3 row groups
    shards = []
    for size in ("7", "1000", "5000"):
        out = tmp_path / f"o{size}"
        result = build(data, sample_tokenizer_path, out, "--batch-size", size)
        assert result.exit_code == 0, result.output
        (shard,) = out.glob("*.parquet")
        shards.append(shard.read_bytes())
    assert shards[0] == shards[1] == shards[2]
    groups = pq.ParquetFile(next((tmp_path / "o7").glob("*.parquet"))).metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [1000, 1000, 400]


def test_a_huge_record_is_rejected_before_it_is_tokenized(tmp_path: Path, qwen_path: Path) -> None:
    huge = {"prompt": "Summarise:", "response": "word " * 2_000_001}  # 10,000,005 characters
    data = write_jsonl(tmp_path / "in.jsonl", [*RECORDS, huge])
    out = tmp_path / "o"
    result = build(data, qwen_path, out, "--on-error", "skip", "--max-length", "2048", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rejected_by_reason"] == {"too-long": 1}
    reject = json.loads((out / "rejects.jsonl").read_text())
    assert reject["line"] == 5 and reject["reason"] == "too-long"
    assert "10,000,015 characters, more than --max-chars 10,000,000 (checked before tokenizing)" in reject["message"]
    strict = build(data, qwen_path, tmp_path / "o2", "--max-chars", "20")
    assert strict.exit_code == 3 and f"{data}:2: 41 characters, more than --max-chars 20" in one_line_error(strict)


def test_a_line_too_long_for_max_chars_is_rejected_unparsed(tmp_path: Path, qwen_path: Path) -> None:
    """A line is read no further than --max-chars allows (12 bytes a character, plus 64 KiB): a 1 GB
    line without a newline took 5 GB and minutes to be rejected as invalid JSON."""
    data = tmp_path / "in.jsonl"
    long_line = b'{"prompt": "' + b"x" * 3_000_000  # no closing quote, no newline: not even JSON
    with open(data, "wb") as f:
        f.write(b'{"prompt": "a", "response": "b"}\n' + long_line + b"\n" + b'{"prompt": "c", "response": "d"}\n')
        f.write(long_line)  # the last line, without a newline
    out = tmp_path / "o"
    result = build(data, qwen_path, out, "--on-error", "skip", "--max-chars", "100000", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rejected_by_reason"] == {"too-long": 2}
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 4] and len(rows_of(out)) == 2
    assert rejects[0]["message"] == (
        "line of 3,000,012 bytes, longer than any record of --max-chars 100,000 characters can be "
        "(12 bytes a character at most); not parsed; raise --max-chars, or split the record"
    )
    assert rejects[1]["message"].startswith("line of 3,000,012 bytes, ")
    assert rejects[0]["record"] == '{"prompt": "' + "x" * 988 + "..."  # its first 1,000 bytes
    strict = build(data, qwen_path, tmp_path / "o2", "--max-chars", "100000")
    assert strict.exit_code == 3 and one_line_error(strict).startswith(f"Error: {data}:2: line of 3,000,012 bytes")
    # A line as long as the limit (12 x 100,000 + 65,536 bytes) is parsed; one byte more is not.
    record = b'{"prompt": "p", "response": "' + b"\\u00e9" * 200_000 + b'"}'
    for size, message in ((1_265_536, "200,001 characters, more than --max-chars"), (1_265_537, "line of 1,265,537")):
        data.write_bytes(record + b" " * (size - len(record)) + b"\n")
        result = build(data, qwen_path, tmp_path / "o3", "--max-chars", "100000", "--overwrite")
        assert result.exit_code == 3 and one_line_error(result).startswith(f"Error: {data}:1: {message}")


def test_a_record_too_big_to_tokenize_whole_is_rejected_whatever_max_chars_says(
    tmp_path: Path, qwen_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --max-length a text is encoded whole, at up to 200 bytes of memory per byte of text:
    a record that would need more than half the machine's memory is rejected before it is
    tokenized, even with --max-chars raised past it (a 200 MB record died in Rust at 7.96 GB)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sftmask import limits

    monkeypatch.setattr(limits, "machine_memory", lambda: (1 << 30, "this machine's"))  # 1 GiB: 2.7 MB of text
    huge = {"prompt": "Summarise:", "response": "é " * 1_400_000}  # 2,800,010 characters, 4,200,010 bytes
    data = write_jsonl(tmp_path / "in.jsonl", [*RECORDS, huge])
    out = tmp_path / "o"
    result = build(data, qwen_path, out, "--on-error", "skip", "--max-chars", "100000000", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rejected_by_reason"] == {"too-long": 1}
    reject = json.loads((out / "rejects.jsonl").read_text())
    assert reject["file"] == str(data) and reject["line"] == 5 and reject["reason"] == "too-long"
    assert reject["message"] == (
        "2,800,010 characters (4,200,010 bytes of UTF-8) need about 0.8 GiB to tokenize whole, more than 0.5 GiB "
        "(half of this machine's 1.0 GiB; checked before tokenizing); pass --max-length (a long text is then "
        "encoded only as far as its row keeps), or split the record"
    )
    strict = build(data, qwen_path, tmp_path / "o2", "--max-chars", "100000000")
    assert strict.exit_code == 3 and one_line_error(strict).startswith(f"Error: {data}:5: 2,800,010 characters (")
    # The same record in a Parquet file; and with --num-proc 2 each worker gets half the budget.
    table = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([*RECORDS, {**huge, "response": "é " * 700_000}]), table)
    result = build(table, qwen_path, tmp_path / "o3", "--on-error", "skip", "--max-chars", "100000000", "--json")
    assert json.loads(result.stdout)["rejected_by_reason"] == {}
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # the budget is shared all the same
    result = build(table, qwen_path, tmp_path / "o4", "--max-chars", "100000000", "--num-proc", "2")
    assert result.exit_code == 3
    assert "row 4: 1,400,010 characters (2,100,010 bytes of UTF-8) need about 0.4 GiB" in one_line_error(result)
    assert "(half of this machine's 1.0 GiB, shared by 2 --num-proc workers;" in one_line_error(result)
    # With --max-length a long text is encoded only as far as its row keeps: no memory budget.
    result = build(data, qwen_path, tmp_path / "o5", "--max-chars", "100000000", "--max-length", "64", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["rejected_by_reason"] == {}


@pytest.mark.slow
def test_a_record_too_big_to_tokenize_does_not_kill_the_build_under_a_memory_limit(
    tmp_path: Path, qwen_path: Path
) -> None:
    """Under `ulimit -v 4G`, a 40 MB response with --max-chars raised: the tokenizer's allocation
    failed and aborted the process in Rust ("memory allocation of 6 bytes failed", exit -6,
    temporary folder and lock left). Now it is rejected, naming the record."""
    import resource

    huge = {"prompt": "Summarise:", "response": "hello world " * 3_400_000}
    data = write_jsonl(tmp_path / "in.jsonl", [*RECORDS, huge])

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    cmd = ["build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "o"), "--max-chars", "1000000000"]
    result = subprocess.run(
        [sys.executable, "-m", "sftmask", *cmd, "--on-error", "skip"],
        capture_output=True, text=True, preexec_fn=limited, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 rejected (too-long: 1)" in result.stderr + result.stdout
    reject = json.loads((tmp_path / "o" / "rejects.jsonl").read_text())
    assert reject["line"] == 5 and reject["message"].startswith("40,800,010 characters (40,800,010 bytes of UTF-8)")
    assert "(half of the address-space limit (ulimit -v) of 4.0 GiB;" in reject["message"]
    assert _leftovers(tmp_path) == ["o"]
