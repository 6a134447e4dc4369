"""What the help pages and usage errors say: text shown as written, readable at 80 columns, examples that parse."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sftmask.cli.app import app
from sftmask.config.build import make_config
from sftmask.errors import ConfigError

runner = CliRunner()
COMMANDS = [["build"], ["inspect"], ["stats"], ["validate"], ["template", "check"]]


def _help(*args: str, columns: int = 80) -> str:
    # Typer reads TERMINAL_WIDTH once, when its help module is first imported: set its width here.
    import typer.rich_utils

    width = typer.rich_utils.MAX_WIDTH
    typer.rich_utils.MAX_WIDTH = columns
    try:
        result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": str(columns)})
    finally:
        typer.rich_utils.MAX_WIDTH = width
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def _command(path: list[str]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def test_help_shows_brackets_as_written() -> None:
    # Help is Rich markup: `sftmask[ray]` lost its `[ray]` (read as a style tag).
    words = " ".join(_help("build", columns=200).split())
    assert 'pip install "sftmask[ray]"' in words
    assert 'pip install "sftmask[plot]"' in " ".join(_help("stats", columns=200).split())


def _help_widths(text: str) -> dict[str, int]:
    """Per help panel, the width of its help column (where its wrapped help lines start)."""
    widths: dict[str, int] = {}
    panel = ""
    for line in text.splitlines():
        if line.startswith("╭─ "):
            panel = line.split("─ ")[1].split(" ─")[0]
        elif line.startswith("│ ") and line[1:-1].startswith("  ") and line[1:-1].strip() and panel != "Arguments":
            body = line[1:-1]
            widths[panel] = min(widths.get(panel, len(body)), len(body) - (len(body) - len(body.lstrip())))
    return widths


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_column_is_readable_at_80_columns(command: list[str]) -> None:
    text = _help(*command)
    assert max(len(line) for line in text.splitlines()) <= 80
    widths = _help_widths(text)
    # The Output panel's help was 16 characters wide: `--no-assistant-masks` had a column of its own.
    assert widths and min(widths.values()) >= 25, widths
    if command == ["build"]:
        assert widths["Output"] >= 30 and widths["Strategy"] >= 30, widths
        lines = text.splitlines()
        at = next(i for i, line in enumerate(lines) if "│ --assistant-masks " in line)
        assert lines[at + 1].startswith("│ --no-assistant-masks ")


def _examples(text: str) -> list[list[str]]:
    """The command lines of an `Examples:` epilog (continued lines joined)."""
    commands: list[list[str]] = []
    pending = ""
    for line in text.split("Examples:", 1)[1].splitlines():
        line = line.strip()
        if pending or line.startswith("sftmask "):
            pending += line
            if pending.endswith("\\"):
                pending = pending[:-1]
            else:
                commands.append(shlex.split(pending))
                pending = ""
    return commands


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_examples_that_parse(command: list[str]) -> None:
    text = _help(*command, columns=120)
    examples = _examples(text)
    assert len(examples) >= 2, text
    click_command = _command(command)
    for example in examples:
        assert example[: 1 + len(command)] == ["sftmask", *command], example
        args = example[1 + len(command) :]
        # Parsing checks every flag and value type (an unknown flag, a missing value, N not a number).
        ctx = click_command.make_context(" ".join(command), list(args))
        if command not in (["build"], ["inspect"]) or ctx.params.get("config") is not None:
            continue
        given = {key: value for key, value in ctx.params.items() if key in _build_keys() and value is not None}
        if command == ["inspect"] and "tokenizer" not in given:
            continue  # a built DIR: no build options
        # The values are valid for the build config too (strategy names, templates, ...).
        inputs = ctx.params.get("inputs") or ctx.params.get("sources")
        make_config({"output": "out", **given, "inputs": inputs})


def _build_keys() -> set[str]:
    from sftmask.config.options import BuildOptions

    return set(BuildOptions.model_fields)


def test_build_without_arguments_names_the_flags() -> None:
    result = runner.invoke(app, ["build"])
    assert result.exit_code == 2
    assert result.stderr == "Error: missing INPUT, -t/--tokenizer and -o/--output\n"
    result = runner.invoke(app, ["build", "data.jsonl", "-o", "out"])
    assert result.exit_code == 2 and result.stderr == "Error: missing -t/--tokenizer\n"
    result = runner.invoke(app, ["template", "check", "chatml"])
    assert result.exit_code == 2 and result.stderr == "Error: missing -t/--tokenizer\n"


def test_the_library_names_missing_keys_as_config_keys() -> None:
    with pytest.raises(ConfigError, match=r"^missing option 'tokenizer'; missing option 'output'$"):
        make_config({"inputs": ["x.jsonl"]})


def test_a_config_file_error_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "build.yaml"
    config.write_text("inputs: [x.jsonl]\ntokenizer: t\noutput: o\nstrategy: nope\n", encoding="utf-8")
    result = runner.invoke(app, ["build", "-c", str(config)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {config}: strategy: unknown strategy 'nope'; choose one of: ")
    with pytest.raises(ConfigError, match=f"^{config}: missing option 'output'$"):
        config.write_text("inputs: [x.jsonl]\ntokenizer: t\n", encoding="utf-8")
        make_config({}, config)
