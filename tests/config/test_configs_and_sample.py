"""Every shipped config loads and runs; the README quick start works on sample_data/."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sftmask.cli.app import app
from sftmask.config.build import read_config_file

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    p for p in (REPO / "configs").rglob("*") if p.suffix in {".yaml", ".yml", ".toml"} and "templates" not in p.parts
)


def test_there_are_configs() -> None:
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_runs(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # configs use repo-relative paths, as in the README
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["build", "--config", str(config), "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    settings = read_config_file(config)
    assert summary["rows_written"] > 0
    sources = settings.get("datasets", [settings])  # a recipe's inputs are its entries'
    records = sum(_count_records(REPO / path) for source in sources for path in source["inputs"])
    left_out = summary.get("left_out", 0) + summary.get("duplicates", 0) - summary.get("repeated", 0)
    assert summary["rows_written"] + summary["rejected"] + left_out == summary["records_read"] == records
    manifest = json.loads((out / "manifest.json").read_text())
    for key, value in settings.items():
        if key not in ("output", "datasets"):
            assert manifest["config"][key.replace("-", "_")] == value, key
    for source, entry in zip(
        sources if "datasets" in settings else [], manifest["config"].get("datasets", []), strict=True
    ):
        for key, value in source.items():
            assert entry[key.replace("-", "_")] == value, key


def _count_records(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return len(json.loads(text))
    if path.suffix in {".csv", ".tsv"}:
        return len(list(csv.reader(io.StringIO(text), delimiter="\t" if path.suffix == ".tsv" else ","))) - 1
    return sum(1 for line in text.splitlines() if line.strip())


def test_sample_tokenizer_round_trips_the_sample_responses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer

    monkeypatch.chdir(REPO)
    out = tmp_path / "o"
    result = CliRunner().invoke(
        app,
        [
            "build",
            "sample_data/instructions.jsonl",
            "-t",
            "sample_data/tokenizer",
            "-o",
            str(out),
            "--keep-columns",
            "id",
        ],
    )
    assert result.exit_code == 0, result.output
    tok = AutoTokenizer.from_pretrained("sample_data/tokenizer")
    records = {r["id"]: r for r in map(json.loads, (REPO / "sample_data/instructions.jsonl").read_text().splitlines())}
    table = pq.read_table(next(out.glob("*.parquet"))).to_pylist()
    assert len(table) == 300
    for row in table:
        trained = [i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]
        assert tok.decode(trained) == records[row["id"]]["response"] + tok.eos_token


@pytest.mark.parametrize(
    ("script", "files"),
    [
        ("make_sample_data.py", ["instructions.jsonl", "instructions.csv"]),
        ("make_chat_data.py", ["chat.jsonl"]),
        ("make_ner_data.py", ["ner.jsonl", "ner_labels.txt"]),
    ],
)
def test_sample_data_regenerates_byte_for_byte(script: str, files: list[str], tmp_path: Path) -> None:
    import runpy

    generator = runpy.run_path(str(REPO / "sample_data" / script))
    generator["main"](str(tmp_path))
    for name in files:
        assert (tmp_path / name).read_bytes() == (REPO / "sample_data" / name).read_bytes(), name


def test_stats_of_the_shipped_recipe_keep_their_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "source instructions" is longer than the other labels: every value still starts in one column.
    monkeypatch.chdir(REPO)
    out = tmp_path / "out"
    assert CliRunner().invoke(app, ["build", "--config", "configs/recipe.yaml", "--output", str(out)]).exit_code == 0
    lines = CliRunner().invoke(app, ["stats", str(out)]).stdout.splitlines()

    def value_column(label: str) -> int:
        line = next(line for line in lines if line.startswith(label + " "))
        return len(line) - len(line[len(label) :].lstrip())

    labels = ["rows", "trained tokens", "source alpaca", "source chat", "source instructions"]
    assert len({value_column(label) for label in labels}) == 1, "\n".join(lines)
