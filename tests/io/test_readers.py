"""Inputs people have: Parquet, Arrow, `save_to_disk` folders, JSON arrays, chat in CSV, plain text.

Each input kind must build the sample data to exactly the rows of its JSONL twin.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import hypothesis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import strategies as st
from typer.testing import CliRunner

from sftmask.cli.app import app

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"
runner = CliRunner()


def load_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()[:limit]
    return [json.loads(line) for line in lines if line.strip()]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def build(*args: str, expect: int = 0) -> Any:
    result = runner.invoke(app, ["build", *args, "--quiet"])
    assert result.exit_code == expect, result.output
    return result


def output(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = [row for f in sorted(out.glob("*.parquet")) for row in pq.read_table(f).to_pylist()]
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts.pop("longest_row_at").startswith(manifest["config"]["inputs"][0].split("*")[0])  # names its input
    return rows, counts


def rejects(out: Path) -> list[dict[str, Any]]:
    path = out / "rejects.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def same_as_twin(tmp_path: Path, source: Path, twin: Path, *options: str, keep: str = "id") -> list[dict[str, Any]]:
    """Build `source` and its JSONL `twin` with the same options; assert equal rows and counts."""
    a, b = tmp_path / "from-source", tmp_path / "from-twin"
    build(str(source), "-o", str(a), "--keep-columns", keep, *options)
    build(str(twin), "-o", str(b), "--keep-columns", keep, *options)
    rows_a, counts_a = output(a)
    rows_b, counts_b = output(b)
    assert rows_a and rows_a == rows_b
    assert counts_a == counts_b
    return rows_a


@pytest.fixture(scope="module")
def instructions() -> list[dict[str, Any]]:
    return load_jsonl(SAMPLE / "instructions.jsonl")


@pytest.fixture(scope="module")
def chats() -> list[dict[str, Any]]:
    return load_jsonl(SAMPLE / "chat.jsonl")


# --- Parquet and Arrow files --------------------------------------------------------------------


def test_parquet_builds_the_rows_of_its_jsonl_twin(tmp_path: Path, qwen_path: Path, instructions: list[Any]) -> None:
    source = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(instructions), source, row_group_size=70)  # several row groups
    rows = same_as_twin(tmp_path, source, SAMPLE / "instructions.jsonl", "-t", str(qwen_path), "--batch-size", "64")
    assert [r["id"] for r in rows] == [r["id"] for r in instructions]


@pytest.mark.parametrize("layout", ["file", "stream"])
def test_arrow_files_build_the_rows_of_their_jsonl_twin(
    tmp_path: Path, qwen_path: Path, instructions: list[Any], layout: str
) -> None:
    table = pa.Table.from_pylist(instructions[:120])
    source = tmp_path / "train.arrow"
    writer_class = pa.ipc.RecordBatchFileWriter if layout == "file" else pa.ipc.RecordBatchStreamWriter
    with writer_class(str(source), table.schema) as writer:
        writer.write_table(table, max_chunksize=50)
    twin = write_jsonl(tmp_path / "twin.jsonl", instructions[:120])
    same_as_twin(tmp_path, source, twin, "-t", str(qwen_path), "--batch-size", "32")


def test_parquet_rejects_name_file_and_row(tmp_path: Path, qwen_path: Path) -> None:
    records = [
        {"prompt": "Hello\n", "response": "World"},
        {"prompt": "Capital of France?\n", "response": None},
        {"prompt": "2+2=", "response": "4"},
    ]
    source = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(records), source)
    failed = runner.invoke(app, ["build", str(source), "-t", str(qwen_path), "-o", str(tmp_path / "o")])
    assert failed.exit_code == 3
    assert failed.stderr.startswith(f"Error: {source} row 1: field 'response' is null, not a string")
    assert not (tmp_path / "o").exists()

    out = tmp_path / "skip"
    build(str(source), "-t", str(qwen_path), "-o", str(out), "--on-error", "skip")
    _, counts = output(out)
    assert counts["records_read"] == 3 and counts["rows_written"] == 2
    assert counts["rejected_by_reason"] == {"not-a-string": 1}
    [reject] = rejects(out)
    assert reject["file"] == str(source) and reject["row"] == 1 and "line" not in reject
    assert reject["record"] == records[1]


def test_parquet_without_the_field_lists_its_columns(tmp_path: Path, qwen_path: Path) -> None:
    source = tmp_path / "alpaca.parquet"
    pq.write_table(pa.Table.from_pylist([{"instruction": "Say hi", "output": "Hi"}]), source)
    result = runner.invoke(app, ["build", str(source), "-t", str(qwen_path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 3
    assert f"{source} row 0: field 'prompt' not found; fields are instruction, output" in result.stderr


def test_parquet_without_the_field_and_skip_rejects_every_row_as_jsonl_does(tmp_path: Path, qwen_path: Path) -> None:
    """With --on-error skip a table lacking the field rejected its rows, then failed with a KeyError
    traceback (exit 1) taking the missing column from the rows left; it ends as its JSONL twin."""
    records = [{"instruction": f"Say hi {i}", "output": "Hi"} for i in range(5)]
    source, twin = tmp_path / "alpaca.parquet", write_jsonl(tmp_path / "alpaca.jsonl", records)
    pq.write_table(pa.Table.from_pylist(records), source)
    said = []
    for path in (source, twin):
        args = ["build", str(path), "-t", str(qwen_path), "-o", str(tmp_path / "o"), "--on-error", "skip"]
        result = runner.invoke(app, args)
        assert result.exit_code == 3, result.output
        said.append(result.stderr.replace(f"{source} row 0", "PLACE").replace(f"{twin}:1", "PLACE"))
    assert said[0] == said[1]
    assert said[0].startswith(
        "Error: no row written: all 5 records were rejected (missing-field: 5); first: PLACE: field 'prompt'"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("layout", ["parquet", "arrow"])
def test_string_view_columns_build_the_rows_of_their_jsonl_twin(
    tmp_path: Path, qwen_path: Path, instructions: list[Any], layout: str
) -> None:
    """Polars writes strings as views (Arrow's Utf8View); pyarrow's `take` has no kernel for them
    and such a file failed with "no kernel matching input types (string_view, int64)"."""
    records = [{**r, "id": str(r["id"])} for r in instructions[:100]]
    table = pa.Table.from_pylist(records)
    table = table.cast(pa.schema([pa.field(f.name, pa.string_view()) for f in table.schema]))
    source = tmp_path / f"train.{layout}"
    if layout == "parquet":
        pq.write_table(table, source, row_group_size=40)
        assert pq.read_schema(source).field("prompt").type == pa.string_view()  # read back as views
    else:
        with pa.ipc.new_file(str(source), table.schema) as writer:
            writer.write_table(table, max_chunksize=40)
    twin = write_jsonl(tmp_path / "twin.jsonl", records)
    same_as_twin(
        tmp_path, source, twin, "-t", str(qwen_path), "--batch-size", "32", "--max-chars", "400", "--on-error", "skip"
    )
    too_long = output(tmp_path / "from-source")[1]["rejected_by_reason"]["too-long"]
    assert 0 < too_long < len(records)  # the length kernels ran on the view columns (the twin's count: above)
    kept = pq.read_table(next((tmp_path / "from-source").glob("*.parquet"))).schema.field("id").type
    assert (
        kept == pq.read_table(next((tmp_path / "from-twin").glob("*.parquet"))).schema.field("id").type == pa.string()
    )


def test_words_from_parquet_build_the_rows_of_their_jsonl_twin(tmp_path: Path, wordpiece_path: Path) -> None:
    source = tmp_path / "ner.parquet"
    pq.write_table(pa.Table.from_pylist(load_jsonl(SAMPLE / "ner.jsonl")), source)
    options = ["-t", str(wordpiece_path), "--strategy", "first-subtoken", "--data-kind", "words"]
    same_as_twin(tmp_path, source, SAMPLE / "ner.jsonl", *options, "--label-names", str(SAMPLE / "ner_labels.txt"))


# --- `datasets` folders --------------------------------------------------------------------------


def test_save_to_disk_chat_folder_builds_the_rows_of_its_twin_and_keeps_messages(
    tmp_path: Path, qwen_path: Path, chats: list[Any]
) -> None:
    from datasets import Dataset, load_dataset

    folder = tmp_path / "chat-ds"
    Dataset.from_list(chats).save_to_disk(str(folder), max_shard_size="40KB")  # several Arrow files
    assert len(list(folder.glob("*.arrow"))) > 1
    options = ["-t", str(qwen_path), "--strategy", "assistant-only", "--batch-size", "16"]
    rows = same_as_twin(tmp_path, folder, SAMPLE / "chat.jsonl", *options, keep="id,messages")
    # The conversation is kept as a list of structs, not as JSON text.
    assert [r["messages"] for r in rows] == [c["messages"] for c in chats]
    loaded = load_dataset("parquet", data_dir=str(tmp_path / "from-source"))["train"]
    assert loaded[3]["messages"] == chats[3]["messages"]


def test_dataset_dict_folder_reads_the_split_given(tmp_path: Path, qwen_path: Path, instructions: list[Any]) -> None:
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "dd"
    DatasetDict(
        {"validation": Dataset.from_list(instructions[:20]), "test": Dataset.from_list(instructions[20:50])}
    ).save_to_disk(str(folder))
    missing = runner.invoke(app, ["build", str(folder), "-t", str(qwen_path), "-o", str(tmp_path / "o")])
    assert missing.exit_code == 2
    assert "a DatasetDict without a 'train' split; splits are validation, test; pass --split NAME" in missing.stderr

    twin = write_jsonl(tmp_path / "test.jsonl", instructions[20:50])
    same_as_twin(tmp_path, folder, twin, "-t", str(qwen_path), "--split", "test")
    assert [p.name for p in (tmp_path / "from-source").glob("*.parquet")] == ["test-00000-of-00001.parquet"]


def test_a_plain_directory_is_refused_with_a_hint(tmp_path: Path, qwen_path: Path) -> None:
    (tmp_path / "data").mkdir()
    result = runner.invoke(app, ["build", str(tmp_path / "data"), "-t", str(qwen_path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 3 and "not a folder written by Dataset.save_to_disk" in result.stderr


def test_inspect_reads_a_parquet_input_and_a_save_to_disk_folder(
    tmp_path: Path, qwen_path: Path, instructions: list[Any]
) -> None:
    from datasets import Dataset

    source = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(instructions[:5]), source)
    folder = tmp_path / "ds"
    Dataset.from_list(instructions[:5]).save_to_disk(str(folder))
    for given in (source, folder):
        result = runner.invoke(app, ["inspect", str(given), "-t", str(qwen_path), "--index", "2", "-n", "1"])
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[1].startswith(f"record 2 ({given} row 2): ")


# --- JSON arrays ---------------------------------------------------------------------------------


def test_pretty_printed_json_array_builds_the_rows_of_its_twin(
    tmp_path: Path, qwen_path: Path, instructions: list[Any]
) -> None:
    source = tmp_path / "alpaca_like.json"
    source.write_text(json.dumps(instructions, indent=2, ensure_ascii=False), encoding="utf-8")
    same_as_twin(tmp_path, source, SAMPLE / "instructions.jsonl", "-t", str(qwen_path), "--batch-size", "100")


def test_json_suffix_with_one_object_per_line_is_still_jsonl(tmp_path: Path, qwen_path: Path) -> None:
    records = load_jsonl(SAMPLE / "instructions.jsonl", 10)
    source = write_jsonl(tmp_path / "lines.json", records)
    twin = write_jsonl(tmp_path / "twin.jsonl", records)
    same_as_twin(tmp_path, source, twin, "-t", str(qwen_path), keep="id")
    # --input-format json reads either layout too (as datasets' json reader does); it took the
    # lines for a broken array ("a .json input holds one array of objects, or one object per line")
    named = write_jsonl(tmp_path / "lines.txt", records)
    same_as_twin(tmp_path / "given", named, twin, "-t", str(qwen_path), "--input-format", "json", keep="id")


def test_json_array_errors_are_exact(tmp_path: Path, qwen_path: Path) -> None:
    out = str(tmp_path / "o")
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"prompt": "a", "response": "b"},\n  {"prompt": "c", "response": \n')
    result = runner.invoke(app, ["build", str(broken), "-t", str(qwen_path), "-o", out])
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: {broken}: not a valid JSON array (") and "after row 0" in result.stderr

    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps([{"prompt": "a", "response": "b"}, {"prompt": "c"}], indent=2))
    result = runner.invoke(app, ["build", str(missing), "-t", str(qwen_path), "-o", out])
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: {missing} row 1: field 'response' not found; fields are prompt")

    # A JSON array in a .jsonl file: said exactly, not "not valid JSON".
    array_in_jsonl = tmp_path / "data.jsonl"
    array_in_jsonl.write_text(json.dumps([{"prompt": "a", "response": "b"}], indent=2))
    result = runner.invoke(app, ["build", str(array_in_jsonl), "-t", str(qwen_path), "-o", out])
    assert result.exit_code == 3
    assert (
        "this is a JSON array file (it starts with '['), not JSON lines; name it .json or pass --input-format json"
        in (result.stderr)
    )
    build(str(array_in_jsonl), "-t", str(qwen_path), "-o", out, "--input-format", "json")


@pytest.mark.parametrize("compressed", [False, True])
def test_a_json_array_after_a_byte_order_mark_builds_as_without(
    tmp_path: Path, qwen_path: Path, instructions: list[Any], compressed: bool
) -> None:
    """Windows tools write UTF-8 with a BOM; JSON lines and CSV files took it, a JSON array was
    "not a valid JSON array (lexical error: invalid char in json text"."""
    import gzip

    text = b"\xef\xbb\xbf" + json.dumps(instructions[:40], indent=1).encode()
    source = tmp_path / ("bom.json.gz" if compressed else "bom.json")
    source.write_bytes(gzip.compress(text) if compressed else text)
    same_as_twin(tmp_path, source, write_jsonl(tmp_path / "twin.jsonl", instructions[:40]), "-t", str(qwen_path))


def test_invalid_utf8_in_a_json_array_is_said_as_text(tmp_path: Path, qwen_path: Path) -> None:
    """The message showed yajl's bytes as a Python repr (``b'lexical error...``)."""
    source = tmp_path / "bad.json"
    source.write_bytes(b'[{"prompt": "a", "response": "b"}, {"prompt": "\xff", "response": "b"}]')
    result = runner.invoke(app, ["build", str(source), "-t", str(qwen_path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"Error: {source}: not a valid JSON array (lexical error: invalid bytes in UTF8 string. "
    )
    assert "b'" not in result.stderr and "after row 0" in result.stderr


# --- chat in CSV, nested kept columns from JSONL -------------------------------------------------


def test_chat_in_csv_builds_the_rows_of_its_jsonl_twin(tmp_path: Path, qwen_path: Path, chats: list[Any]) -> None:
    source = tmp_path / "chat.csv"
    with open(source, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "messages"])
        for chat in chats:
            writer.writerow([chat["id"], json.dumps(chat["messages"], ensure_ascii=False)])
    same_as_twin(tmp_path, source, SAMPLE / "chat.jsonl", "-t", str(qwen_path), "--strategy", "assistant-only")


def test_invalid_utf8_in_a_csv_row_names_its_byte_in_the_file(tmp_path: Path, qwen_path: Path) -> None:
    """The byte was counted in the row's fields joined without their commas and quotes, and the
    reject's record was that joined text; now the byte is the record's (from its first line, as a
    JSON lines reject counts it) and the record its fields."""
    source = tmp_path / "t.csv"
    source.write_bytes(b'prompt,response\nhello,world\n"multi\nline","caf\xe9"\nok,fine\n')
    out = tmp_path / "o"
    build(str(source), "-t", str(qwen_path), "-o", str(out), "--on-error", "skip")
    [reject] = rejects(out)
    assert (reject["line"], reject["reason"]) == (3, "invalid-utf8")
    assert reject["message"] == "byte 0xe9 at byte 18 is not valid UTF-8; re-encode the file as UTF-8"
    assert source.read_bytes().split(b"\n", 2)[2][17:18] == b"\xe9"  # byte 18 of the record, from line 3
    assert reject["record"] == {"prompt": "multi\nline", "response": "caf\\xe9"}
    assert output(out)[1]["rows_written"] == 2


def test_chat_in_csv_with_bad_json_is_rejected_with_its_line(tmp_path: Path, qwen_path: Path) -> None:
    source = tmp_path / "chat.csv"
    source.write_text('messages\n"[{""role"": ""user"", ""content"": ""hi""}, {""role"": ""assistant"""\n')
    out = tmp_path / "o"
    result = runner.invoke(
        app, ["build", str(source), "-t", str(qwen_path), "-o", str(out), "--strategy", "assistant-only"]
    )
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: {source}:2: field 'messages' is text that is not valid JSON")


def test_kept_conversation_from_jsonl_is_a_list_of_structs(tmp_path: Path, qwen_path: Path, chats: list[Any]) -> None:
    out = tmp_path / "o"
    build(
        str(SAMPLE / "chat.jsonl"), "-t", str(qwen_path), "-o", str(out), "--strategy", "assistant-only",
        "--keep-columns", "messages", "--batch-size", "7",
    )  # fmt: skip
    table = pq.read_table(next(out.glob("*.parquet")))
    assert table.schema.field("messages").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    assert table.column("messages").to_pylist() == [c["messages"] for c in chats]


def test_kept_column_that_changes_shape_fails_instead_of_dropping_fields(tmp_path: Path, qwen_path: Path) -> None:
    records = [
        {"prompt": "a", "response": "b", "meta": {"source": "x"}},
        {"prompt": "c", "response": "d", "meta": {"source": "y", "score": 1}},
    ]
    source = write_jsonl(tmp_path / "t.jsonl", records)
    out = tmp_path / "o"
    result = runner.invoke(
        app,
        ["build", str(source), "-t", str(qwen_path), "-o", str(out), "--keep-columns", "meta", "--batch-size", "1"],
    )
    assert result.exit_code == 3 and "kept column 'meta' changes type" in result.stderr
    assert not out.exists()
    # Fewer fields later (or a null) fit the first shape: filled with nulls.
    source = write_jsonl(tmp_path / "t.jsonl", [records[1], records[0], {"prompt": "e", "response": "f"}])
    build(str(source), "-t", str(qwen_path), "-o", str(out), "--keep-columns", "meta", "--batch-size", "1")
    metas = [r["meta"] for r in output(out)[0]]
    assert metas == [{"source": "y", "score": 1}, {"source": "x", "score": None}, None]


@pytest.mark.parametrize(("before", "big", "line"), [(None, 2**63, 1), (7, 2**64 - 1, 2)])
def test_kept_integers_past_int64_fail_naming_the_value(
    tmp_path: Path, qwen_path: Path, before: int | None, big: int, line: int
) -> None:
    """Arrow infers no type for them (as `datasets` does not); the error said "changes type: int
    here, another type in earlier records" of the first record."""
    records = [{"prompt": "a", "response": "b", "k": v} for v in (before, big) if v is not None]
    source = write_jsonl(tmp_path / "t.jsonl", records)
    out = tmp_path / "o"
    result = runner.invoke(app, ["build", str(source), "-t", str(qwen_path), "-o", str(out), "--keep-columns", "k"])
    assert result.exit_code == 3 and not out.exists()
    assert result.stderr == (
        f"Error: {source}:{line}: kept column 'k' holds {big}, past the signed 64-bit integers a kept column "
        "can hold; write it as a string\n"
    )


# --- plain text records (--data-kind text) -------------------------------------------------------

MARKER = "\n### Answer:\n"  # the sample's Alpaca-style prompts hold "### Response:" already


def test_text_with_a_response_marker_equals_prompt_response_split_there(
    tmp_path: Path, qwen_path: Path, instructions: list[Any]
) -> None:
    assert not any(MARKER in r["prompt"] + r["response"] for r in instructions)
    texts = [{"id": r["id"], "text": r["prompt"] + MARKER + r["response"]} for r in instructions]
    twin = [{"id": r["id"], "prompt": r["prompt"] + MARKER, "response": r["response"]} for r in instructions]
    source = write_jsonl(tmp_path / "text.jsonl", texts)
    twin_path = write_jsonl(tmp_path / "twin.jsonl", twin)
    a, b = tmp_path / "a", tmp_path / "b"
    build(str(source), "-t", str(qwen_path), "-o", str(a), "--data-kind", "text", "--response-marker", MARKER)
    build(str(twin_path), "-t", str(qwen_path), "-o", str(b))
    assert output(a) == output(b)
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["data_kind"] == "text"


def test_text_without_a_marker_trains_every_token(tmp_path: Path, mistral_path: Path) -> None:
    from transformers import AutoTokenizer

    texts = ["<s>[INST] Hi [/INST] Hello!</s>", "Plain text, trained from its first token.\n"]
    source = write_jsonl(tmp_path / "text.jsonl", [{"body": t} for t in texts])
    out = tmp_path / "o"
    hf = AutoTokenizer.from_pretrained(str(mistral_path))
    expected = [hf(t)["input_ids"] for t in texts]
    build(str(source), "-t", str(mistral_path), "-o", str(out), "--text-field", "body", "--no-add-eos")
    rows, _ = output(out)
    assert [r["input_ids"] for r in rows] == expected
    # The BOS the tokenizer adds is the (empty) prompt: no position ever predicts it.
    assert [r["labels"] for r in rows] == [[-100, *ids[1:]] for ids in expected]
    build(
        str(source), "-t", str(mistral_path), "-o", str(out), "--overwrite", "--text-field", "body", "--strategy", "all"
    )
    rows, counts = output(out)
    assert [r["input_ids"] for r in rows] == [[*ids, hf.eos_token_id] for ids in expected]
    assert all(r["labels"] == r["input_ids"] for r in rows) and counts["trained_tokens"] == counts["tokens"]


def test_text_without_the_marker_is_rejected(tmp_path: Path, qwen_path: Path) -> None:
    source = write_jsonl(tmp_path / "t.jsonl", [{"text": "Q: hi" + MARKER + "hello"}, {"text": "no marker here"}])
    out = tmp_path / "o"
    args = ["-t", str(qwen_path), "-o", str(out), "--response-marker", MARKER]
    failed = runner.invoke(app, ["build", str(source), *args])
    assert failed.exit_code == 3
    assert failed.stderr.startswith(f"Error: {source}:2: response marker '\\n### Answer:\\n' not found in the text")
    build(str(source), *args, "--on-error", "skip")
    assert [r["reason"] for r in rejects(out)] == ["no-response-marker"]
    assert output(out)[1]["rows_written"] == 1


def test_text_options_need_text_data(tmp_path: Path, qwen_path: Path) -> None:
    result = runner.invoke(
        app,
        ["build", str(SAMPLE / "instructions.jsonl"), "-t", str(qwen_path), "-o", str(tmp_path / "o"),
         "--data-kind", "prompt-response", "--response-marker", "x"],
    )  # fmt: skip
    assert result.exit_code == 2 and "response-marker only apply to text data" in result.stderr


JSON_SCALARS = [
    st.text(alphabet=st.characters(exclude_categories=("Cs",))),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
]


@pytest.mark.parametrize("values", JSON_SCALARS, ids=["str", "int", "float", "bool"])
@hypothesis.given(data=st.data())
def test_kept_values_of_one_simple_type_are_what_pa_array_makes(values: Any, data: st.DataObject) -> None:
    from sftmask.io.readers.checks import _simple_array

    column = data.draw(st.lists(st.one_of(values, st.none()) if values is JSON_SCALARS[0] else values, max_size=20))
    made = _simple_array(column)
    assert made is not None
    theirs = pa.array(column)
    assert made.type == theirs.type and made.equals(theirs)
    assert (made.buffers()[0] is None) == (theirs.buffers()[0] is None)


@pytest.mark.parametrize("column", [[], [None, None], [1, 2.5], [1, None], [True, 1], [2**64], [[1]], [{"a": 1}]])
def test_other_kept_values_are_left_to_pyarrow(column: list[Any]) -> None:
    from sftmask.io.readers.checks import _simple_array

    made = _simple_array(column)
    if made is not None:  # all null: a null column, as pa.array makes it
        assert made.type == pa.array(column).type == pa.null() and len(made) == len(column)
