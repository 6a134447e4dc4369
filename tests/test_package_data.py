"""Shipped templates are package data: every file is in the wheel's globs, loads, and works by name
from any directory (CI also installs a built wheel and runs `--template alpaca`)."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sftmask.chat.templates import SHIPPED as SHIPPED_CHAT
from sftmask.cli.app import app
from sftmask.prompts.templates import TEMPLATE_DIR, available_templates, load_template
from tests.helpers import load_renderer, transformers_tokenizer

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "sftmask"
SHIPPED = sorted(
    p for folder in ("prompts/builtin", "chat/templates") for p in (PACKAGE / folder).rglob("*") if p.is_file()
)


def test_every_shipped_template_is_package_data() -> None:
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["sftmask"]
    data = [p for p in SHIPPED if p.suffix != ".py" and "__pycache__" not in p.parts]
    assert len(data) >= 10
    for path in data:
        relative = path.relative_to(PACKAGE).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in globs), relative
    assert TEMPLATE_DIR.is_relative_to(PACKAGE)


@pytest.mark.parametrize("name", ["alpaca", "chatml", "question-answer"])
def test_every_prompt_template_loads_by_name(name: str) -> None:
    assert name in available_templates()
    assert load_template(name).required_fields


@pytest.mark.parametrize("name", sorted(SHIPPED_CHAT))
def test_every_chat_template_renders_by_name(
    name: str, qwen: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # by name from the package, not from a file in the checkout
    renderer = load_renderer(qwen.hf, name)  # type: ignore[attr-defined]
    text = renderer.render([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}])
    assert "Hi" in text and "Hello!" in text


def test_unknown_chat_template_name_lists_the_shipped_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["build", str(REPO / "sample_data/chat.jsonl"), "-t", "x", "-o", str(tmp_path / "o"),
         "--strategy", "assistant-only", "--chat-template", "chatmlx"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert (
        f"chat template file not found: chatmlx (did you mean 'chatml'?) (shipped templates: {', '.join(SHIPPED_CHAT)})"
        in result.stderr
    )


def test_template_alpaca_on_the_sample_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qwen_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ here: the template comes from the package
    out = tmp_path / "o"
    source = REPO / "sample_data" / "alpaca.json"
    result = CliRunner().invoke(
        app, ["build", str(source), "-t", str(qwen_path), "-o", str(out), "--template", "alpaca", "--json"]
    )
    assert result.exit_code == 0, result.output
    records = json.loads(source.read_text(encoding="utf-8"))
    assert json.loads(result.stdout)["rows_written"] == len(records) == 40
    tok = transformers_tokenizer(qwen_path)
    rows = pq.read_table(next(out.glob("*.parquet"))).to_pylist()
    for row, record in zip(rows, records, strict=True):
        prompt = [i for i, label in zip(row["input_ids"], row["labels"], strict=True) if label == -100]
        trained = [i for i, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
        assert tok.decode(trained) == record["output"] + tok.eos_token
        assert ("### Input:\n" in tok.decode(prompt)) == bool(record["input"])
