"""`sftmask stats` and `sftmask validate` on real builds, and on builds broken on purpose."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sftmask.cli.app import app
from tests.report.test_inspect import write_jsonl, write_words_output

runner = CliRunner()

RECORDS = [
    {"prompt": "What is 2+2?\n", "response": "4"},
    {"prompt": "Translate to French: Good morning", "response": "\nBonjour"},
    {"prompt": "Écris un haïku sur la mer 🌊\n", "response": "Vagues sous la lune,\nle sel garde nos secrets"},
    {"prompt": "def add(a, b):\n", "response": "    return a + b\n"},
    {"prompt": "x " * 40, "response": "y " * 10},
]


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, qwen_path: Path) -> Path:
    """A parquet build in 2 shards with a truncated row and a rejected record."""
    tmp = tmp_path_factory.mktemp("built")
    data = write_jsonl(tmp / "t.jsonl", [*RECORDS, {"prompt": "only prompt", "response": ""}])
    out = tmp / "out"
    result = run(
        "build", str(data), "-t", str(qwen_path), "-o", str(out), "--rows-per-shard", "3", "--max-length", "32",
        "--no-add-eos", "--on-error", "skip",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def copy_of(built: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(built, out)
    return out


def all_rows(out: Path) -> list[dict[str, Any]]:
    return [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_stats_json_matches_the_rows(built: Path) -> None:
    result = run("stats", str(built), "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert list(stats)[:3] == ["rows", "tokens", "trained_tokens"]
    rows = all_rows(built)
    lengths = [len(r["input_ids"]) for r in rows]
    trained = [sum(x != -100 for x in r["labels"]) for r in rows]
    assert stats["rows"] == len(rows) == 5
    assert stats["tokens"] == sum(lengths)
    assert stats["trained_tokens"] == sum(trained)
    assert stats["trained_share"] == pytest.approx(sum(trained) / sum(lengths))
    assert stats["length"]["max"] == max(lengths) == 32 and stats["length"]["min"] == min(lengths)
    assert stats["length"]["p50"] == round(float(np.percentile(lengths, 50)))
    assert sum(stats["length_histogram"]["counts"]) == 5 and sum(stats["trained_share_histogram"]["counts"]) == 5
    assert stats["truncated"] == 1
    assert stats["rejected_by_reason"] == {"no-trainable-tokens": 1}
    manifest = json.loads((built / "manifest.json").read_text())
    assert stats["boundary_merges"] == manifest["counts"]["boundary_merges"]
    assert [(s["file"], s["rows"]) for s in stats["shards"]] == [
        ("train-00000-of-00002.parquet", 3),
        ("train-00001-of-00002.parquet", 2),
    ]


def test_stats_table_and_plot(built: Path, tmp_path: Path) -> None:
    plot = tmp_path / "hist.png"
    result = run("stats", str(built), "--plot", str(plot))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "rows               5"
    assert lines[2].startswith("trained tokens     ") and "%" in lines[2]
    assert (
        "row length histogram (tokens: rows)" in result.stdout
        and "rejected           1 (no-trainable-tokens: 1)" in lines
    )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000


def test_stats_plot_without_matplotlib_names_the_pip_command(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    result = run("stats", str(built), "--plot", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "pip install 'sftmask[plot]'" in result.stderr


def test_stats_of_arrow_output(tmp_path: Path, mistral_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    out = tmp_path / "o"
    assert run("build", str(data), "-t", str(mistral_path), "-o", str(out), "--format", "arrow").exit_code == 0
    stats = json.loads(run("stats", str(out), "--json").stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert stats["format"] == "arrow" and stats["rows"] == 5
    assert stats["tokens"] == manifest["counts"]["tokens"]
    assert stats["trained_tokens"] == manifest["counts"]["trained_tokens"]
    assert run("validate", str(out), "-t", str(mistral_path)).exit_code == 0


def test_validate_passes_a_good_build(built: Path, qwen_path: Path) -> None:
    result = run("validate", str(built), "--tokenizer", str(qwen_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ok: 5 rows in 2 shards of {built} pass 9 checks")
    report = json.loads(run("validate", str(built), "--json").stdout)
    assert report["ok"] and report["problems"] == [] and report["rows"] == 5


def rewrite_shard(out: Path, name: str, change: Any, *, update_manifest: bool = True) -> None:
    """Rewrite one shard with `change(rows)` applied; keep the manifest's sha256 in step if asked."""
    path = out / name
    table = pq.read_table(path)
    rows = table.to_pylist()
    change(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path, compression="zstd")
    if update_manifest:
        manifest = json.loads((out / "manifest.json").read_text())
        for shard in manifest["shards"]:
            if shard["file"] == name:
                shard["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        (out / "manifest.json").write_text(json.dumps(manifest))


def test_validate_catches_labels_shifted_by_one(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)

    def shift(rows: list[dict[str, Any]]) -> None:
        labels = rows[1]["labels"]
        rows[1]["labels"] = [*labels[1:], -100]  # the classic mistake: pre-shifted labels

    rewrite_shard(out, "train-00001-of-00002.parquet", shift)
    result = run("validate", str(out))
    assert result.exit_code == 6
    first = result.stdout.splitlines()[0]
    assert first.startswith("train-00001-of-00002.parquet row 1: labels[")
    assert "is neither -100 nor its input_id" in first and "look shifted left by one" in first
    assert first.endswith("[labels]")
    assert result.stderr == f"Error: {out} failed validation: 1 problem (first 1 listed on stdout)\n"


def test_validate_catches_a_corrupted_shard(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)
    path = out / "train-00000-of-00002.parquet"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zero a stretch of the compressed pages
    path.write_bytes(bytes(data))
    result = run("validate", str(out), "--json")
    assert result.exit_code == 6
    report = json.loads(result.stdout)
    assert not report["ok"]
    first = report["problems"][0]
    assert first["check"] == "files" and first["shard"] == "train-00000-of-00002.parquet"
    assert "SHA-256 differs from manifest.json" in first["message"]
    # Whether the damaged pages still decode depends on the bytes hit; the SHA-256 check catches it either way.


def test_validate_catches_a_truncated_shard_file(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)
    path = out / "train-00001-of-00002.parquet"
    path.write_bytes(path.read_bytes()[:100])
    report = json.loads(run("validate", str(out), "--json").stdout)
    messages = [(p["check"], p["shard"], p["message"]) for p in report["problems"]]
    assert any(c == "files" and "cannot read shard" in m for c, s, m in messages), messages


def test_validate_catches_a_manifest_that_does_not_match(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"][0]["rows"] = 4
    manifest["counts"]["rows_written"] = 6
    manifest["counts"]["trained_tokens"] += 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = run("validate", str(out))
    assert result.exit_code == 6
    assert result.stdout.splitlines() == [
        "train-00000-of-00002.parquet: has 3 rows, manifest.json says 4 [counts]",
        "manifest: the shards hold 5 rows, manifest.json says 6 [counts]",
        f"manifest: the shards hold {manifest['counts']['trained_tokens'] - 1} trained_tokens, "
        f"manifest.json says {manifest['counts']['trained_tokens']} [counts]",
        "manifest: counts.records_read is 6, but rows_written + rejected is 6 + 1 = 7 [counts]",
    ]


def test_validate_catches_missing_and_unlisted_shards(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)
    (out / "train-00001-of-00002.parquet").rename(out / "train-00001-of-00003.parquet")
    lines = run("validate", str(out)).stdout.splitlines()
    assert "train-00001-of-00003.parquet: shard file is not listed in manifest.json [files]" in lines
    assert "train-00001-of-00002.parquet: listed in manifest.json but missing [files]" in lines


def test_validate_row_rules(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)

    def break_rows(rows: list[dict[str, Any]]) -> None:
        rows[0]["labels"] = [-100] * len(rows[0]["labels"])  # nothing to train
        rows[1]["attention_mask"][0] = 0
        rows[1]["input_ids"][0] = 10**9  # a masked prompt token outside the vocabulary
        rows[2]["labels"] = rows[2]["labels"][:-1]  # unequal lengths

    rewrite_shard(out, "train-00000-of-00002.parquet", break_rows)
    result = run("validate", str(out))
    assert result.exit_code == 6
    lines = result.stdout.splitlines()
    shard = "train-00000-of-00002.parquet"
    assert f"{shard} row 0: no trained label (all -100) [trained]" in lines
    assert f"{shard} row 1: attention_mask[0] is not 1 [attention-mask]" in lines
    assert f"{shard} row 1: input_ids[0] is outside the vocabulary (size 248077) [token-ids]" in lines
    assert any(line.startswith(f"{shard} row 2: lengths differ: input_ids ") for line in lines)


def test_validate_tokenizer_fingerprint(built: Path, mistral_path: Path) -> None:
    result = run("validate", str(built), "-t", str(mistral_path))
    assert result.exit_code == 6
    assert result.stdout.startswith(f"manifest: tokenizer {mistral_path} has fingerprint sha256:")
    assert result.stdout.count("\n") == 1  # ids are checked against the manifest's vocabulary, not mistral's


def test_validate_max_problems_lists_first_and_counts_all(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)

    def all_masked(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            row["labels"] = [-100] * len(row["labels"])

    rewrite_shard(out, "train-00000-of-00002.parquet", all_masked)
    report = json.loads(run("validate", str(out), "--json", "--max-problems", "2").stdout)
    assert len(report["problems"]) == 2 and report["problem_count"] == 4  # 3 rows + trained_tokens total
    text = run("validate", str(out), "--max-problems", "2").stdout.splitlines()
    assert text[-1] == "... and 2 more"


def test_validate_words_output(tmp_path: Path, wordpiece_path: Path) -> None:
    out = tmp_path / "words"
    write_words_output(out, str(wordpiece_path))
    result = run("validate", str(out))
    assert result.exit_code == 0, result.output

    def unknown_tag(rows: list[dict[str, Any]]) -> None:
        rows[1]["labels"][2] = 7  # not in id2label
        rows[0]["labels"][1] = rows[0]["input_ids"][1]  # a token id is not a tag id

    rewrite_shard(out, "train-00000-of-00001.parquet", unknown_tag)
    result = run("validate", str(out))
    assert result.exit_code == 6
    assert result.stdout.splitlines()[:2] == [
        "train-00000-of-00001.parquet row 0: labels[1] = 90 is neither -100 nor a label id of id2label [labels]",
        "train-00000-of-00001.parquet row 1: labels[2] = 7 is neither -100 nor a label id of id2label [labels]",
    ]


def test_inspect_reads_rows_across_shards(built: Path) -> None:
    result = run("inspect", str(built), "--index", "2", "-n", "5")
    assert result.exit_code == 0, result.output
    headers = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("row ")]
    assert headers == [
        "row 2 (train-00000-of-00002.parquet row 2)",
        "row 3 (train-00001-of-00002.parquet row 0)",
        "row 4 (train-00001-of-00002.parquet row 1)",
    ]
    rows = all_rows(built)
    assert f"row 4 (train-00001-of-00002.parquet row 1): {len(rows[4]['input_ids'])} tokens" in result.stdout
    beyond = run("inspect", str(built), "--index", "5")
    assert beyond.exit_code == 3 and "nothing to show" in beyond.stderr


# --- a tampered manifest: counts that do not add up, shards outside DIR, wrong types ------------


def edit_manifest(out: Path, change: Any) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    change(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            lambda m: m["counts"].__setitem__("records_read", m["counts"]["records_read"] - 1),
            "manifest: counts.records_read is 5, but rows_written + rejected is 5 + 1 = 6 [counts]",
        ),
        (
            lambda m: m["counts"].__setitem__("rejected_by_reason", {"no-trainable-tokens": 2}),
            "manifest: counts.rejected is 1, but counts.rejected_by_reason adds up to 2 [counts]",
        ),
    ],
)
def test_validate_checks_that_the_counts_add_up(built: Path, tmp_path: Path, change: Any, line: str) -> None:
    out = copy_of(built, tmp_path)
    edit_manifest(out, change)
    result = run("validate", str(out))
    assert result.exit_code == 6
    assert result.stdout.splitlines() == [line]


def test_validate_checks_rejects_jsonl_against_the_count(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)
    (out / "rejects.jsonl").write_text("")  # the reject report emptied
    result = run("validate", str(out))
    assert result.exit_code == 6
    assert result.stdout.splitlines() == ["manifest: rejects.jsonl holds 0 rejects, but counts.rejected is 1 [counts]"]
    (out / "rejects.jsonl").unlink()
    assert run("validate", str(out)).stdout.splitlines() == [
        "manifest: counts.rejected is 1, but rejects.jsonl is missing [counts]"
    ]


OUTSIDE = "the manifest was edited or not written by `sftmask build`: rebuild the output"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/etc/passwd", "shards[0].file '/etc/passwd' is not a file name in the output directory"),
        (
            "../../../../etc/passwd",
            "shards[0].file '../../../../etc/passwd' is not a file name in the output directory",
        ),
        ("sub/x.parquet", "shards[0].file 'sub/x.parquet' is not a file name in the output directory"),
        ("..", "shards[0].file '..' is not a file name in the output directory"),
    ],
)
def test_stats_and_validate_refuse_a_shard_outside_the_output(
    built: Path, tmp_path: Path, name: str, problem: str
) -> None:
    out = copy_of(built, tmp_path)
    edit_manifest(out, lambda m: m["shards"][0].update({"file": name, "sha256": None}))
    for command in ("validate", "stats", "inspect"):
        result = run(command, str(out))
        assert result.exit_code == 3, (command, result.output)
        assert result.stderr.startswith(f"Error: {out}/manifest.json: {problem}"), result.stderr
        assert result.stderr.rstrip().endswith(OUTSIDE) and result.stderr.count("\n") == 1
        assert result.stdout == ""


def test_stats_and_validate_refuse_a_shard_that_is_a_symlink_out(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)
    secret = tmp_path / "secret.parquet"
    (out / "train-00000-of-00002.parquet").rename(secret)
    (out / "train-00000-of-00002.parquet").symlink_to(secret)
    for command in ("validate", "stats"):
        result = run(command, str(out))
        assert result.exit_code == 3, result.output
        assert result.stderr == (
            f"Error: {out}/manifest.json: shards[0].file 'train-00000-of-00002.parquet' is a symlink to {secret}, "
            f"outside the output directory; {OUTSIDE}\n"
        )
    # A symlink to a file inside the directory is a file of the directory.
    (out / "train-00000-of-00002.parquet").unlink()
    secret.rename(out / "real.parquet")
    (out / "train-00000-of-00002.parquet").symlink_to("real.parquet")
    assert run("stats", str(out), "--json").exit_code == 0


def test_rejects_jsonl_symlinked_out_is_not_read(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)
    (out / "rejects.jsonl").unlink()
    (out / "rejects.jsonl").symlink_to("/etc/passwd")
    assert run("validate", str(out)).stdout.splitlines() == [
        "manifest: rejects.jsonl is a symlink out of the output directory [files]"
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda m: m["counts"].update({k: str(v) for k, v in m["counts"].items() if isinstance(v, int)}),
            "counts.records_read is '6' (str), not a count",
        ),
        (lambda m: m["counts"].__setitem__("tokens", 1.5), "counts.tokens is 1.5 (float), not a count"),
        (lambda m: m["counts"].__setitem__("rejected", True), "counts.rejected is True (bool), not a count"),
        (lambda m: m["counts"].__setitem__("truncated", -1), "counts.truncated is -1 (int), not a count"),
        (
            lambda m: m["counts"].__setitem__("rejected_by_reason", {"x": "1"}),
            "counts.rejected_by_reason is an object, not counts by reason",
        ),
        (lambda m: m["shards"][1].__setitem__("rows", "2"), "shards[1].rows is '2' (str), not a count"),
        (lambda m: m["shards"][0].__setitem__("sha256", 7), "shards[0].sha256 is 7 (int), not a SHA-256 in hex"),
        (lambda m: m.__setitem__("counts", [1, 2]), "'counts' is an array, not an object"),
        (lambda m: m.__setitem__("tokenizer", "qwen"), "'tokenizer' is 'qwen' (str), not an object"),
        (lambda m: m["tokenizer"].__setitem__("vocab_size", "248077"), "tokenizer.vocab_size is '248077' (str)"),
        (lambda m: m["strategy"].__setitem__("name", ["x"]), "strategy.name is an array, not a string"),
    ],
)
def test_stats_and_validate_refuse_counts_of_the_wrong_type(
    built: Path, tmp_path: Path, change: Any, problem: str
) -> None:
    out = copy_of(built, tmp_path)
    edit_manifest(out, change)
    for command in ("validate", "stats"):
        result = run(command, str(out))
        assert result.exit_code == 3, (command, result.output)
        assert result.stderr.startswith(f"Error: {out}/manifest.json: {problem}"), result.stderr
        assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("nested", ["[" * 100_000 + "]" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000])
def test_stats_and_validate_on_a_deeply_nested_manifest(built: Path, tmp_path: Path, nested: str) -> None:
    out = copy_of(built, tmp_path)
    text = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(text.rstrip()[:-1] + f', "x": {nested}}}')
    for command in ("validate", "stats"):
        result = run(command, str(out))
        assert result.exit_code == 3, (command, result.output)
        assert result.stderr.startswith(f"Error: {out}/manifest.json: cannot read the manifest: depth limit exceeded")
        assert result.stderr.count("\n") == 1


def test_stats_on_a_shard_without_labels(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path)
    path = out / "train-00001-of-00002.parquet"
    pq.write_table(pq.read_table(path).drop(["labels"]), path)
    result = run("stats", str(out))
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: {path}: column 'labels' is missing; columns are input_ids, attention_mask, assistant_masks: "
        "not a shard `sftmask build` wrote (run `sftmask validate` on the directory)\n"
    )
    assert "column 'labels' is missing" in run("validate", str(out)).stdout


@pytest.mark.parametrize(
    ("longest", "edges"), [(5, [0, 1, 2, 3, 4, 5, 6]), (9, list(range(11))), (31, [0, 4, 8, 12, 16, 20, 24, 28, 32])]
)
def test_the_length_histogram_has_no_bins_past_the_longest_row(longest: int, edges: list[int]) -> None:
    """Rows of at most 5 tokens drew ten bins, 0-0 to 9-9, four of them past the longest."""
    from sftmask.report.stats import _length_histogram

    histogram = _length_histogram(np.array([1, 3, longest], dtype=np.int64))
    assert histogram["edges"] == edges and sum(histogram["counts"]) == 3 and histogram["counts"][-1] == 1
