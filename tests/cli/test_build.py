"""The `sftmask build` command end to end: outputs, bad input, exit codes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import zstandard
from typer.testing import CliRunner

from sftmask.cli.app import EXIT_CODES, app

runner = CliRunner()

RECORDS = [
    {"id": "a", "prompt": "What is 2+2?\n", "response": "4"},
    {"id": "b", "prompt": "Translate to French: Good morning", "response": "\nBonjour"},
    {
        "id": "c",
        "prompt": "Écris un haïku sur la mer 🌊\n",
        "response": "Vagues sous la lune,\nle sel garde nos secrets —\nl'écume s'en va.",
    },
    {"id": "d", "prompt": "def add(a, b):\n", "response": "    return a + b\n"},
]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return path


def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def rows_of(out: Path) -> list[dict[str, Any]]:
    return [row for f in sorted(out.glob("*.parquet")) for row in pq.read_table(f).to_pylist()]


def test_every_command_has_help() -> None:
    result = run("--help")
    assert result.exit_code == 0 and "build" in result.stdout
    for command in app.registered_commands:
        name = command.name or command.callback.__name__  # type: ignore[union-attr]
        sub = run(name, "--help")
        assert sub.exit_code == 0 and "Usage:" in sub.stdout and len(sub.stdout) > 200, name


def test_build_writes_loadable_shards_and_manifest(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    from datasets import load_dataset

    data = write_jsonl(tmp_path / "train.jsonl", RECORDS)
    out = tmp_path / "out"
    result = run(
        "build",
        str(data),
        "--tokenizer",
        str(sample_tokenizer_path),
        "--output",
        str(out),
        "--keep-columns",
        "id",
        "--rows-per-shard",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote 4 rows (") and "in 2 shards" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    ]
    ds = load_dataset("parquet", data_dir=str(out))["train"]
    assert ds.column_names == ["input_ids", "attention_mask", "labels", "assistant_masks", "id"]
    assert ds["id"] == ["a", "b", "c", "d"]
    for row in ds:
        assert len(row["input_ids"]) == len(row["labels"]) == len(row["attention_mask"])
        assert set(row["attention_mask"]) == {1}
        assert row["assistant_masks"] == [int(label != -100) for label in row["labels"]]
    schema = pq.read_schema(out / "train-00000-of-00002.parquet")
    assert str(schema.field("input_ids").type) == "list<element: int32>"
    assert str(schema.field("attention_mask").type) == "list<element: int8>"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["records_read"] == manifest["counts"]["rows_written"] == 4
    assert manifest["counts"]["trained_tokens"] == sum(sum(1 for x in r["labels"] if x != -100) for r in ds)
    assert [s["rows"] for s in manifest["shards"]] == [3, 1]
    assert manifest["tokenizer"]["fingerprint"].startswith("sha256:")
    assert manifest["config"]["strategy"] == "response-only"


def test_json_summary(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    result = run("build", str(data), "-t", str(sample_tokenizer_path), "-o", str(tmp_path / "o"), "--json")
    summary = json.loads(result.stdout)
    assert summary["rows_written"] == 4 and summary["rejected"] == 0 and summary["shards"] == 1


def test_arrow_format_loads_with_load_from_disk(tmp_path: Path, mistral_path: Path) -> None:
    from datasets import load_from_disk

    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    out = tmp_path / "o"
    assert run("build", str(data), "-t", str(mistral_path), "-o", str(out), "--format", "arrow").exit_code == 0
    ds = load_from_disk(str(out))
    assert ds.num_rows == 4 and ds[0]["input_ids"][0] == 1  # BOS
    assert ds[0]["labels"][0] == -100 and ds[0]["labels"][-1] == 2  # EOS trained


def test_jsonl_csv_tsv_compressed_and_stdin_give_identical_rows(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    csv_path = write_csv(tmp_path / "t.csv", RECORDS)
    gz = tmp_path / "t.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl.read_bytes()))
    zst = tmp_path / "t.csv.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(csv_path.read_bytes()))
    tsv = tmp_path / "t.tsv"
    tsv.write_text(
        "prompt\tresponse\n"
        + "".join(f"{r['prompt']}\t{r['response']}\n" for r in RECORDS[:2] if "\n" not in r["prompt"][:-1])
    )
    outputs = {}
    for name, source in {
        "jsonl": str(jsonl),
        "csv": str(csv_path),
        "gz": str(gz),
        "zst": str(zst),
        "stdin": "-",
    }.items():
        out = tmp_path / f"out-{name}"
        stdin = jsonl.read_text() if source == "-" else None
        result = run("build", source, "-t", str(sample_tokenizer_path), "-o", str(out), input=stdin)
        assert result.exit_code == 0, (name, result.output)
        outputs[name] = rows_of(out)
    assert len(outputs["jsonl"]) == 4
    assert all(rows == outputs["jsonl"] for rows in outputs.values())


def test_several_inputs_and_globs_keep_order(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    for i in range(3):
        write_jsonl(tmp_path / f"part{i}.jsonl", [{**RECORDS[0], "id": f"p{i}"}])
    first = write_jsonl(tmp_path / "first.jsonl", [{**RECORDS[1], "id": "first"}])
    out = tmp_path / "o"
    result = run(
        "build",
        str(first),
        str(tmp_path / "part*.jsonl"),
        "-t",
        str(sample_tokenizer_path),
        "-o",
        str(out),
        "--keep-columns",
        "id",
    )
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in rows_of(out)] == ["first", "p0", "p1", "p2"]


BAD_INPUTS = [
    ("bad.jsonl", '{"prompt": "a", "response": "b"}\n{"prompt": "a", "response": \n', 2, "not valid JSON"),
    (
        "bad.jsonl",
        '{"prompt": "a", "response": "b"}\n\n{"prompt": "a"}\n',
        3,
        "field 'response' not found; fields are prompt; pass --response-field NAME",
    ),
    (
        "bad.jsonl",
        '{"prompt": "a", "response": 7}\n{"prompt": "a", "response": "b"}\n',
        1,
        "field 'response' is int, not a string",
    ),
    ("bad.jsonl", b'{"prompt": "a", "response": "b"}\n{"prompt": "caf\xe9", "response": "b"}\n', 2, "byte 0xe9"),
    (
        "bad.jsonl",
        '[{"prompt": "a", "response": "b"}]\n{"prompt": "a", "response": "b"}\n',
        1,
        "record is a JSON array",
    ),
    ("bad.csv", 'prompt,response\na,b\n"multi\nline",b\nx,y,z\n', 5, "row has 3 fields but the header has 2"),
    ("bad.csv", b"prompt,response\na,b\ncaf\xe9,b\n", 3, "byte 0xe9"),
]


@pytest.mark.parametrize(("name", "content", "line", "message"), BAD_INPUTS)
def test_bad_input_fails_with_one_line_and_no_output(
    tmp_path: Path, sample_tokenizer_path: Path, name: str, content: str | bytes, line: int, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out"
    result = run("build", str(path), "-t", str(sample_tokenizer_path), "-o", str(out))
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: {path}:{line}: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(("name", "content", "line", "message"), BAD_INPUTS)
def test_bad_input_with_skip_goes_to_rejects(
    tmp_path: Path, sample_tokenizer_path: Path, name: str, content: str | bytes, line: int, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out"
    result = run("build", str(path), "-t", str(sample_tokenizer_path), "-o", str(out), "--on-error", "skip", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["file"], r["line"]) for r in rejects] == [(str(path), line)]
    assert message in rejects[0]["message"]
    assert summary["rows_written"] + summary["rejected"] == summary["records_read"]


def test_truncation_rejects_are_written_and_counted(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [*RECORDS, {"prompt": "x " * 50, "response": "y " * 50}])
    out = tmp_path / "o"
    result = run(
        "build",
        str(data),
        "-t",
        str(sample_tokenizer_path),
        "-o",
        str(out),
        "--max-length",
        "64",
        "--truncation",
        "drop",
        "--json",
    )
    summary = json.loads(result.stdout)
    assert summary["rejected_by_reason"] == {"too-long": 1} and summary["rows_written"] == 4
    reject = json.loads((out / "rejects.jsonl").read_text())
    assert reject["line"] == 5 and reject["reason"] == "too-long" and reject["record"]["prompt"] == "x " * 50


def test_empty_input_is_an_error(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    result = run("build", str(empty), "-t", str(sample_tokenizer_path), "-o", str(tmp_path / "o"))
    assert result.exit_code == 3 and "no records found" in result.stderr


def test_missing_input_file(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    result = run("build", str(tmp_path / "nope.jsonl"), "-t", str(sample_tokenizer_path), "-o", str(tmp_path / "o"))
    assert result.exit_code == 3 and "no such file" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "prompt-only"], "unknown strategy 'prompt-only'; choose one of: response-only, all"),
        (["--truncation", "middle"], "truncation: Input should be 'prompt', 'response' or 'drop'"),
        (["--max-length", "0"], "max-length: Input should be greater than 0"),
    ],
)
def test_invalid_options_exit_2(tmp_path: Path, sample_tokenizer_path: Path, args: list[str], message: str) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    result = run("build", str(data), "-t", str(sample_tokenizer_path), "-o", str(tmp_path / "o"), *args)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.startswith("Error: ")


def test_missing_local_tokenizer_folder(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    result = run("build", str(data), "-t", str(tmp_path / "no-such-tokenizer"), "-o", str(tmp_path / "o"))
    assert result.exit_code == 4 and "tokenizer folder not found" in result.stderr


def test_unreachable_hub_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    result = run("build", str(data), "-t", "sftmask-test/no-such-model", "-o", str(tmp_path / "o"))
    assert result.exit_code == 4
    assert "the Hugging Face Hub (http://127.0.0.1:9) is unreachable" in result.stderr
    assert result.stderr.count("\n") == 1


def test_tokenizer_without_eos_needs_no_add_eos(tmp_path: Path, wordpiece_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    result = run("build", str(data), "-t", str(wordpiece_path), "-o", str(tmp_path / "o"))
    assert result.exit_code == 4 and "has no EOS token; pass --no-add-eos" in result.stderr
    ok = run("build", str(data), "-t", str(wordpiece_path), "-o", str(tmp_path / "o"), "--no-add-eos")
    assert ok.exit_code == 0, ok.output


def test_existing_output_needs_overwrite(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    out = tmp_path / "o"
    out.mkdir()
    (out / "old.txt").write_text("old")
    result = run("build", str(data), "-t", str(sample_tokenizer_path), "-o", str(out))
    assert result.exit_code == 5 and "pass --overwrite" in result.stderr and (out / "old.txt").exists()
    (out / "old.txt").unlink()
    assert run("build", str(data), "-t", str(sample_tokenizer_path), "-o", str(out)).exit_code == 0
    (out / "old.txt").write_text("old")  # a previous sftmask output (plus a stray file) is replaced
    assert run("build", str(data), "-t", str(sample_tokenizer_path), "-o", str(out), "--overwrite").exit_code == 0
    assert not (out / "old.txt").exists() and (out / "manifest.json").exists()


def test_config_file_yaml_and_toml_flags_win(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"q": r["prompt"], "a": r["response"]} for r in RECORDS])
    yaml_cfg = tmp_path / "c.yaml"
    yaml_cfg.write_text(
        f"tokenizer: {sample_tokenizer_path}\nprompt-field: q\nresponse_field: a\nmax-length: 8\nstrategy: all\n"
    )
    toml_cfg = tmp_path / "c.toml"
    toml_cfg.write_text(
        f'tokenizer = "{sample_tokenizer_path}"\nprompt_field = "q"\nresponse-field = "a"\nmax_length = 8\nstrategy = "all"\n'
    )
    for cfg in (yaml_cfg, toml_cfg):
        out = tmp_path / f"o-{cfg.suffix}"
        result = run("build", str(data), "-o", str(out), "--config", str(cfg), "--max-length", "16")
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["config"]["max_length"] == 16 and manifest["config"]["strategy"] == "all"
        assert all(r["labels"] == r["input_ids"] and len(r["input_ids"]) <= 16 for r in rows_of(out))


def test_unknown_config_key_is_reported(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("max_lenght: 8\nstrategy: nope\n")
    result = run("build", "x.jsonl", "-t", str(sample_tokenizer_path), "-o", str(tmp_path / "o"), "-c", str(cfg))
    assert result.exit_code == 2
    assert "unknown option 'max_lenght'" in result.stderr and "unknown strategy 'nope'" in result.stderr


def test_builds_are_byte_identical(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS * 5)
    digests = []
    for i in range(2):
        out = tmp_path / f"o{i}"
        assert (
            run(
                "build",
                str(data),
                "-t",
                str(sample_tokenizer_path),
                "-o",
                str(out),
                "--rows-per-shard",
                "7",
                "--batch-size",
                "3",
            ).exit_code
            == 0
        )
        manifest = json.loads((out / "manifest.json").read_text())
        digests.append([s["sha256"] for s in manifest["shards"]])
        assert len(digests[-1]) == 3
    assert digests[0] == digests[1]


def test_exit_codes_are_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in readme


def test_module_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "sftmask", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("sftmask ")


def test_num_proc_output_is_byte_identical(tmp_path: Path, sample_tokenizer_path: Path, worker_processes: None) -> None:
    records = [{"prompt": f"Question {i}: what is {i} + {i}?\n", "response": f"{2 * i} 😀"} for i in range(57)]
    data = write_jsonl(tmp_path / "t.jsonl", records)
    shas = []
    for n in (1, 2):
        out = tmp_path / f"o{n}"
        args = [
            "build",
            str(data),
            "-t",
            str(sample_tokenizer_path),
            "-o",
            str(out),
            "--batch-size",
            "10",
            "--num-proc",
            str(n),
        ]
        result = run(*args)
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["counts"]["rows_written"] == 57
        shas.append([s["sha256"] for s in manifest["shards"]])
    assert shas[0] == shas[1]


def test_num_proc_reports_bad_records_like_one_process(
    tmp_path: Path, sample_tokenizer_path: Path, worker_processes: None
) -> None:
    data = tmp_path / "t.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS * 5) + '{"prompt": 1, "response": "x"}\n')
    result = run(
        "build",
        str(data),
        "-t",
        str(sample_tokenizer_path),
        "-o",
        str(tmp_path / "o"),
        "--num-proc",
        "2",
        "--batch-size",
        "4",
    )
    assert result.exit_code == 3 and f"{data}:21: field 'prompt' is int" in result.stderr


def _run_with_tty_stderr(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sftmask", *args], stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    os.close(master)
    return proc.wait(), stdout, b"".join(chunks).decode(errors="replace")


def test_progress_shows_on_a_terminal_only_and_quiet_silences_it(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    import os

    data = write_jsonl(tmp_path / "t.jsonl", RECORDS * 50)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["COLUMNS"] = "120"
    base = ["build", str(data), "-t", str(sample_tokenizer_path), "--batch-size", "20"]
    code, stdout, stderr = _run_with_tty_stderr([*base, "-o", str(tmp_path / "a")], env)
    assert code == 0 and stdout.startswith("wrote 200 rows")
    assert "building" in stderr and "records" in stderr and "tok/s" in stderr
    code, stdout, stderr = _run_with_tty_stderr([*base, "-o", str(tmp_path / "b"), "--quiet"], env)
    assert code == 0 and "building" not in stderr
    piped = subprocess.run(
        [sys.executable, "-m", "sftmask", *base, "-o", str(tmp_path / "c")], capture_output=True, text=True, env=env
    )
    assert piped.returncode == 0 and piped.stderr == ""
