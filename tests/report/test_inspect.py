"""`sftmask inspect`: the exact plain view of known records, from inputs and from built shards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sftmask.cli.app import app
from sftmask.report.inspect import escape, token_texts

runner = CliRunner()

LEGEND = (
    "legend: [trained] tokens are trained (label != -100), [masked] tokens are not (label -100); "
    "· separates tokens; special tokens appear by name; \\n newline, \\· a literal ·, \\xNN a byte of a split character, "
    "␣ a token of only spaces"
)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


def test_plain_view_of_a_known_record_is_exact(tmp_path: Path, mistral_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "t.jsonl",
        [
            {"prompt": "Translate to French: Good morning", "response": "\nBonjour"},
            {"prompt": "x " * 30, "response": "y"},
            {"prompt": "Say nothing.", "response": ""},
        ],
    )
    result = run("inspect", str(data), "-t", str(mistral_path), "--max-length", "8", "--no-add-eos", "-n", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{LEGEND}\n"
        f"record 0 ({data}:1): 8 tokens, 3 trained, truncated\n"
        "  [masked]  <s>· French·:· Good· morning\n"
        "  [trained] \\n·Bon·jour\n"
        f"record 1 ({data}:2): 8 tokens, 1 trained, truncated\n"
        "  [masked]  <s>· x· x· x· x· x·␣\n"
        "  [trained] y\n"
        f"record 2 ({data}:3): rejected (no-trainable-tokens): no token left to train on (empty response, or "
        "truncated away; a row's first token is never predicted)\n"
    )


def test_plain_view_escapes_and_specials(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a|b·\\c\t🌊", "response": "ok"}])
    result = run("inspect", str(data), "-t", str(qwen_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == f"record 0 ({data}:1): 12 tokens, 2 trained, not truncated"
    # The emoji is three byte-level tokens: bytes of one character, shown as \xNN. A `|` is itself;
    # the separator · in the text is escaped, so `<|im_end|>` reads as one token.
    assert lines[2] == "  [masked]  a·|·b·\\··\\\\·c·\\t·\\xf0\\x9f·\\x8c·\\x8a"
    assert lines[3] == "  [trained] ok·<|im_end|>"


def test_index_and_count_select_records(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    records = [{"prompt": f"Q{i}?", "response": f"A{i}"} for i in range(6)]
    data = write_jsonl(tmp_path / "t.jsonl", records)
    result = run("inspect", str(data), "-t", str(sample_tokenizer_path), "--index", "4", "-n", "5")
    assert result.exit_code == 0, result.output
    headers = [line for line in result.stdout.splitlines() if line.startswith("record")]
    assert [h.split(":")[0] for h in headers] == [f"record 4 ({data}", f"record 5 ({data}"]


def test_inspect_input_shows_exactly_what_build_writes(tmp_path: Path, mistral_path: Path) -> None:
    records = [
        {"prompt": "Translate to French: Good morning", "response": "\nBonjour"},
        {"prompt": "Écris un haïku sur la mer 🌊\n", "response": "Vagues sous la lune"},
        {"prompt": "def add(a, b):\n", "response": "    return a + b\n"},
    ]
    data = write_jsonl(tmp_path / "t.jsonl", records)
    out = tmp_path / "out"
    for fmt in ("parquet", "arrow"):
        built = run("build", str(data), "-t", str(mistral_path), "-o", str(out), "--format", fmt, "--overwrite")
        assert built.exit_code == 0, built.output
        from_input = run("inspect", str(data), "-t", str(mistral_path))
        from_dir = run("inspect", str(out))
        assert from_input.exit_code == 0 and from_dir.exit_code == 0, from_dir.output

        def bodies(text: str) -> list[str]:
            return [line for line in text.splitlines() if line.startswith("  ")]

        assert bodies(from_dir.stdout) == bodies(from_input.stdout)
        assert len(bodies(from_dir.stdout)) == 6
        shard = "train-00000-of-00001.parquet" if fmt == "parquet" else "data-00000-of-00001.arrow"
        assert f"row 2 ({shard} row 2): " in from_dir.stdout


def test_token_texts_per_tokenizer(qwen: Any, mistral: Any, wordpiece: Any) -> None:
    text = "Hi there\n🌊"
    q_ids = qwen.full.encode(text, add_special_tokens=False).ids
    assert [escape(t) for t in token_texts(qwen, q_ids)] == ["Hi", " there", "\\n", "\\xf0\\x9f", "\\x8c", "\\x8a"]
    m_ids = mistral.full.encode(text).ids
    assert [escape(t) for t in token_texts(mistral, m_ids)] == [
        "<s>",
        " Hi",
        " there",
        "\\n",
        "\\xf0",
        "\\x9f",
        "\\x8c",
        "\\x8a",
    ]
    w_ids = wordpiece.full.encode("the cat").ids
    texts = token_texts(wordpiece, w_ids)
    assert texts[0] == "[CLS]" and texts[-1] == "[SEP]"
    assert "".join(t.removeprefix("##") for t in texts[1:-1]) == "thecat"


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "Q?", "response": "A"}])
    plain = run("inspect", str(data), "-t", str(sample_tokenizer_path))
    assert "\x1b[" not in plain.stdout and "[masked]" in plain.stdout
    import sftmask.cli.display as cli

    original = cli.colour
    try:
        cli.colour = lambda: True  # type: ignore[assignment]
        coloured = run("inspect", str(data), "-t", str(sample_tokenizer_path), env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    finally:
        cli.colour = original  # type: ignore[assignment]
    assert coloured.exit_code == 0, coloured.output
    assert "\x1b[" in coloured.stdout and "[masked]" not in coloured.stdout and "A" in coloured.stdout


def test_colour_decision_honours_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    import sftmask.cli.display as cli

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(cli.sys, "stdout", Tty())
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli.colour()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli.colour()


def write_words_output(directory: Path, tokenizer: str) -> dict[str, Any]:
    """A hand-written first-subtoken output: WordPiece ids, tag-id labels on first sub-tokens."""
    directory.mkdir()
    # [CLS] paris is nice [SEP]: tags on the first sub-token of each word only.
    rows = {
        "input_ids": [[2, 90, 91, 92, 3], [2, 93, 94, 3]],
        "attention_mask": [[1, 1, 1, 1, 1], [1, 1, 1, 1]],
        "labels": [[-100, 1, -100, 0, -100], [-100, 2, 0, -100]],
    }
    table = pa.table(
        {
            "input_ids": pa.array(rows["input_ids"], type=pa.list_(pa.int32())),
            "attention_mask": pa.array(rows["attention_mask"], type=pa.list_(pa.int8())),
            "labels": pa.array(rows["labels"], type=pa.list_(pa.int32())),
        }
    )
    shard = directory / "train-00000-of-00001.parquet"
    pq.write_table(table, shard)
    import hashlib

    manifest = {
        "config": {"format": "parquet", "strategy": "first-subtoken"},
        "tokenizer": {"name_or_path": tokenizer, "fingerprint": "sha256:x", "vocab_size": 200},
        "strategy": {"name": "first-subtoken"},
        "data_kind": "words",
        "label2id": {"O": 0, "B-LOC": 1, "I-LOC": 2},
        "id2label": {"0": "O", "1": "B-LOC", "2": "I-LOC"},
        "counts": {"rows_written": 2, "tokens": 9, "trained_tokens": 4},
        "shards": [{"file": shard.name, "rows": 2, "sha256": hashlib.sha256(shard.read_bytes()).hexdigest()}],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_words_output_shows_label_names(tmp_path: Path, wordpiece_path: Path, wordpiece: Any) -> None:
    out = tmp_path / "words"
    write_words_output(out, str(wordpiece_path))
    tok = wordpiece
    pieces = [t.replace("·", "\\·") for t in tok.hf.convert_ids_to_tokens([90, 91, 92, 93, 94])]
    result = run("inspect", str(out), "-n", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "row 0 (train-00000-of-00001.parquet row 0): 5 tokens, 2 trained",
        "  [masked]  [CLS]",
        f"  [trained] {pieces[0]}{{B-LOC}}",
        f"  [masked]  {pieces[1]}",
        f"  [trained] {pieces[2]}{{O}}",
        "  [masked]  [SEP]",
    ]
    assert "{TAG} after a token is its label" in result.stdout.splitlines()[0]


def test_not_an_output_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    for command in ("inspect", "stats", "validate"):
        result = run(command, str(tmp_path / "stuff"))
        assert result.exit_code == 3, (command, result.output)
        assert result.stderr == (
            f"Error: {tmp_path / 'stuff'}: not a sftmask output (no manifest.json); "
            "point at a directory written by `sftmask build`\n"
        )


def test_inspect_input_needs_a_tokenizer(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "Q", "response": "A"}])
    result = run("inspect", str(data))
    assert result.exit_code == 2 and "--tokenizer is needed" in result.stderr
    missing = run("inspect", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "is neither a file nor a directory" in missing.stderr


def test_build_options_are_refused_for_a_built_directory(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "Q", "response": "A"}])
    out = tmp_path / "o"
    assert run("build", str(data), "-t", str(sample_tokenizer_path), "-o", str(out)).exit_code == 0
    result = run("inspect", str(out), "--max-length", "4")
    assert result.exit_code == 2 and "--max-length: build options apply to INPUT files" in result.stderr


def test_unavailable_manifest_tokenizer_suggests_flag(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "Q", "response": "A"}])
    out = tmp_path / "o"
    assert run("build", str(data), "-t", str(sample_tokenizer_path), "-o", str(out)).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["tokenizer"]["name_or_path"] = str(tmp_path / "moved-away")
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = run("inspect", str(out))
    assert result.exit_code == 4 and "pass --tokenizer" in result.stderr
    assert run("inspect", str(out), "-t", str(sample_tokenizer_path)).exit_code == 0


def test_inspect_with_skip_shows_every_reject_with_its_message_in_input_order(
    tmp_path: Path, sample_tokenizer_path: Path
) -> None:
    data = tmp_path / "chat.jsonl"
    data.write_text(
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n'
        '{"messages": [{"role": "user", "content": "Only a question?"}]}\n'
        "not json\n"
        '{"messages": [{"role": "user", "content": "Hi again"}, {"role": "assistant", "content": "Hey"}]}\n',
        encoding="utf-8",
    )
    result = run("inspect", str(data), "-t", str(sample_tokenizer_path), "--on-error", "skip", "-n", "4")
    assert result.exit_code == 0, result.output
    headers = [line for line in result.stdout.splitlines() if line.startswith("record")]
    assert headers[1:3] == [
        f"record 1 ({data}:2): rejected (no-assistant-turn): the conversation has no assistant message "
        "(roles: user): nothing a model writes to train on",
        f"record 2 ({data}:3): rejected (invalid-json): not valid JSON (invalid literal, expected 'null' at column 1)",
    ]
    assert headers[3].startswith(f"record 3 ({data}:4): ")
    result = run(
        "inspect", str(data), "-t", str(sample_tokenizer_path), "--on-error", "skip", "--index", "2", "-n", "1"
    )
    assert next(line for line in result.stdout.splitlines() if line.startswith("record")).startswith(
        f"record 2 ({data}:3): rejected (invalid-json)"
    )
