"""The CLI's options, derived from the config's fields (sftmask/config/): what build and inspect accept, help, completion, the docs' option tables."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Annotated, Any, get_args

import pytest
import typer
from typer.testing import CliRunner

from sftmask import __version__
from sftmask.cli.app import app
from sftmask.cli.options import BUILD_OPTIONS, ENCODING_OPTIONS, BuildOption
from sftmask.config.build import BuildConfig
from sftmask.config.common import OUTPUT
from sftmask.config.options import PANELS, BuildOptions
from sftmask.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SAMPLE_TOKENIZER = str(REPO / "sample_data" / "tokenizer")
runner = CliRunner()


def run(*args: str, **kwargs: Any) -> Any:
    return runner.invoke(app, list(args), **kwargs)


def click_command(name: str | None = None) -> Any:
    group: Any = typer.main.get_command(app)
    return group if name is None else group.commands[name]


# The command's own parameters, which are not config keys.
OWN = {
    "build": {"config", "json_output", "quiet", "help"},
    "inspect": {"sources", "count", "index", "html_file", "config", "help"},
}


def test_every_flag_is_a_field_and_every_field_a_flag() -> None:
    # BuildConfig adds checks, no option: its keys are exactly BuildOptions' fields.
    assert list(BuildConfig.model_fields) == list(BuildOptions.model_fields)
    params = {param.name: param for param in click_command("build").params}
    assert set(params) - OWN["build"] == set(BuildOptions.model_fields)
    assert params["inputs"].param_type_name == "argument" and params["inputs"].metavar == "INPUT"
    for option in BUILD_OPTIONS:
        flag = params[option.key]
        assert flag.param_type_name == "option" and option.flag in flag.opts, option.key
        assert flag.rich_help_panel == option.panel in PANELS, option.key  # type: ignore[attr-defined]
        assert option.help == " ".join(BuildOptions.model_fields[option.key].description.split("\n\n")[0].split())
    # inspect takes a subset, and only options that are fields.
    inspect_params = {param.name for param in click_command("inspect").params} - OWN["inspect"]
    assert inspect_params == {option.key for option in ENCODING_OPTIONS}


def test_a_new_field_is_a_new_flag() -> None:
    # Adding an option is one field: its flag, metavar, panel, default and help follow from it.
    from pydantic import Field

    from sftmask.cli.options import _read_options
    from sftmask.config.common import Flag
    from sftmask.config.options import CHAT_DATA

    class Extended(BuildOptions):
        roles_to_train: Annotated[list[str] | None, Flag(CHAT_DATA, "ROLES")] = None
        """Train the turns of these roles.

        More detail for the docs."""
        window_size: Annotated[int, Flag(OUTPUT)] = Field(default=8, gt=0)
        """Rows in a window."""

    options = {option.key: option for option in _read_options(Extended)}
    assert set(options) == {option.key for option in BUILD_OPTIONS} | {"roles_to_train", "window_size"}
    roles, window = options["roles_to_train"], options["window_size"]
    assert (roles.names, roles.metavar, roles.panel, roles.type) == (("--roles-to-train",), "ROLES", CHAT_DATA, str)
    assert (roles.help, roles.default, roles.changes_rows) == ("Train the turns of these roles.", None, True)
    assert (window.names, window.metavar, window.type, window.default) == (("--window-size",), "N", int, "8")

    class Unmarked(BuildOptions):
        forgotten: str = "x"
        """A field without its Flag."""

    with pytest.raises(TypeError, match="forgotten: annotate the field with Flag"):
        _read_options(Unmarked)


def test_every_field_has_a_flag_a_panel_and_help() -> None:
    from sftmask.config.common import Argument, Flag

    for key, field in BuildOptions.model_fields.items():
        marks = [item for item in field.metadata if isinstance(item, Flag | Argument)]
        assert len(marks) == 1, f"{key}: annotate it with one Flag (or Argument)"
        assert field.description, f"{key}: no docstring"


def test_flags_parse_as_their_field_type_and_show_its_default() -> None:
    by_key = {option.key: option for option in BUILD_OPTIONS}
    assert by_key["add_eos"].names == ("--add-eos/--no-add-eos",) and by_key["add_eos"].default == "add-eos"
    assert by_key["overwrite"].names == ("--overwrite",) and by_key["overwrite"].default is None
    assert by_key["tokenizer"].names == ("--tokenizer", "-t") and by_key["output"].names == ("--output", "-o")
    assert by_key["ray_cpus_per_worker"].default == "2" and by_key["rows_per_shard"].default == "100000"
    assert by_key["truncation"].metavar == "[prompt|response|drop]" and by_key["max_length"].metavar == "N"
    assert by_key["max_reject_rate"].type is float and by_key["keep_columns"].type is str
    assert by_key["template_kwargs"].default is None and by_key["keep_columns"].default is None


def test_choices_are_the_library_s() -> None:
    from sftmask.chat.templates import SHIPPED
    from sftmask.engines import ENGINES
    from sftmask.kinds import DATA_KINDS
    from sftmask.labels.strategies import STRATEGIES
    from sftmask.prompts.templates import available_templates

    def literal(key: str) -> tuple[str, ...]:
        # The config field's own Literal type (`X | None` unwrapped), wherever it is defined.
        annotation = BuildConfig.model_fields[key].annotation
        args = get_args(annotation)
        return get_args(args[0]) if args and args[-1] is type(None) else args

    completions = {option.key: option.completions() for option in BUILD_OPTIONS if option.choices}
    assert completions["strategy"] == list(STRATEGIES)
    assert completions["data_kind"] == list(DATA_KINDS)
    assert completions["template"] == [*available_templates(), "chat"]
    assert completions["chat_template"] == list(SHIPPED)
    assert completions["engine"] == list(ENGINES)
    for key in ("input_format", "truncation", "format", "on_error", "messages_format", "reasoning", "ray_read"):
        assert tuple(completions[key]) == literal(key), key
    for option in BUILD_OPTIONS:
        # A metavar that lists the values lists exactly the completions (`--engine [local|ray]`).
        if option.metavar.startswith("["):
            assert option.metavar == "[" + "|".join(option.completions()) + "]", option.key


def _args_and_values(options: tuple[BuildOption, ...]) -> tuple[list[str], dict[str, Any]]:
    args: list[str] = []
    values: dict[str, Any] = {}
    for option in options:
        flag = option.flag
        if option.type is bool:
            args.append(flag)
            values[option.key] = True
        elif option.type is int:
            args += [flag, "7"]
            values[option.key] = 7
        elif option.type is float:
            args += [flag, "1.5"]
            values[option.key] = 1.5
        else:
            value = option.completions()[-1] if option.choices else f"value-of-{option.key}"
            args += [flag, value]
            values[option.key] = value
    return args, values


def _capture_given(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The options each `sftmask build` run gives `make_config` (the build stops there)."""
    from sftmask.config import build as config

    seen: list[dict[str, Any]] = []

    def make_config(given: dict[str, Any], config_file: Any = None, **kwargs: Any) -> Any:
        seen.append(given)
        raise ConfigError("stopped before building")

    importlib.import_module("sftmask.pipeline")  # imported now, it binds the real make_config
    monkeypatch.setattr(config, "make_config", make_config)
    return seen


@pytest.mark.parametrize(
    ("command", "options"), [("build", BUILD_OPTIONS), ("inspect", ENCODING_OPTIONS)], ids=["build", "inspect"]
)
def test_every_option_reaches_the_config(
    command: str, options: tuple[BuildOption, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _capture_given(monkeypatch)
    args, values = _args_and_values(options)
    result = run(command, str(tmp_path / "in.jsonl"), *args)
    assert result.exit_code == 2 and "stopped before building" in result.stderr, result.output
    (seen,) = runs
    assert {key: seen[key] for key in values} == values
    assert seen["inputs"] == [str(tmp_path / "in.jsonl")]


def test_no_add_eos_and_nothing_given(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_given(monkeypatch)
    run("build", "x.jsonl", "--no-add-eos")
    run("build", "x.jsonl")
    assert seen[0]["add_eos"] is False
    # Options not given are None, so that a config file (or the default) decides.
    assert all(value is None for key, value in seen[1].items() if key != "inputs")


def test_inspect_takes_exactly_the_encoding_options() -> None:
    inspect_flags = {opt for param in click_command("inspect").params for opt in param.opts}
    for option in BUILD_OPTIONS:
        assert (option.flag in inspect_flags) == option.changes_rows, option.flag
    # Among them the chat options that inspect's hand copy lacked.
    assert {"--role-key", "--content-key", "--tools-field"} <= inspect_flags
    result = run("inspect", "x.jsonl", "--output", "o")
    assert result.exit_code == 2 and "No such option: --output" in result.output


def test_options_inspect_does_not_take_do_not_change_the_rows(tmp_path: Path) -> None:
    from sftmask.io.output import open_output, read_rows

    lines = (REPO / "sample_data" / "instructions.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def rows(out: Path, *args: str) -> list[tuple[list[int], list[int]]]:
        result = run("build", str(data), "-t", SAMPLE_TOKENIZER, "-o", str(out), "--max-length", "96", *args)
        assert result.exit_code == 0, result.output
        return [(r["input_ids"], r["labels"]) for _, _, r in read_rows(open_output(str(out)), 0, 1000)]

    plain = rows(tmp_path / "a")
    other = ["--format", "arrow", "--rows-per-shard", "9", "--keep-columns", "id"]
    other += ["--batch-size", "7", "--num-proc", "2", "--overwrite"]
    # The engine options are proven not to change the rows by tests/engines/test_ray.py.
    engine_options = {"engine", "ray_address", "ray_workers", "ray_cpus_per_worker", "ray_read", "ray_write"}
    engine_options.add("max_reject_rate")  # fails a build or not; never changes its rows
    # Splits, shuffling and de-duplication say where rows go, in which order and whether a repeated
    # record is written again; each row is built the same (as a multiset below; tests/test_splits.py).
    mixing = ["--val-size", "0.2", "--test-size", "3", "--seed", "3"]
    mixing_switches = ["--shuffle", "--dedup"]
    assert (
        {o.key for o in BUILD_OPTIONS if not o.changes_rows}
        == {
            "output",
            "stopping_strategy",  # needs a recipe with weights: tests/test_recipes.py
            *engine_options,
            *(a[2:].replace("-", "_") for a in [*other[::2], *mixing[::2], *mixing_switches]),
        }
    )
    assert rows(tmp_path / "b", *other) == plain
    assert len(plain) == 40
    mixed = rows(tmp_path / "c", *mixing, *mixing_switches)
    assert sorted(mixed) == sorted(plain) and mixed != plain


def test_every_command_and_parameter_has_help() -> None:
    group = click_command()
    assert group.help
    for name, command in group.commands.items():
        assert command.help, name
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.name}"


def _help(*args: str) -> str:
    result = run(*args, "--help", env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def test_build_help_at_80_columns_is_grouped_with_metavars() -> None:
    text = _help("build")
    assert max(len(line) for line in text.splitlines()) <= 80
    titles = [line.split("─ ")[1].split(" ─")[0] for line in text.splitlines() if line.startswith("╭─ ")]
    assert titles == ["Arguments", "Options", *PANELS]
    for metavar in (
        "NAME_OR_PATH",
        "FILE",
        "DIR",
        "N ",
        "FIELD",
        "FORMAT",
        "[prompt|response|drop]",
    ):
        assert metavar in text, metavar
    words = " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())  # help wrapped over lines, as one line
    assert (
        "[default: response-only]" in words and "--rows-per-shard N Rows per output shard. [default: 100000]" in words
    )


@pytest.mark.parametrize("command", [None, "build", "inspect", "stats", "validate"])
def test_help_shows_no_python_types(command: str | None) -> None:
    text = _help(*([command] if command else []))
    for python_type in ("<bool>", "<str>", "<int", "<list", "<path>"):
        assert python_type not in text, python_type


def test_short_version_flag() -> None:
    for flag in ("-V", "--version"):
        result = run(flag)
        assert result.exit_code == 0 and result.stdout == f"sftmask {__version__}\n"


def test_shell_completion_is_offered_and_completes_choices() -> None:
    assert "--install-completion" in _help()

    def complete(words: str) -> list[str]:
        env = {"_SFTMASK_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
        result = runner.invoke(app, [], env=env, prog_name="sftmask")
        return str(result.stdout).split()

    assert complete("sftmask build --strategy a") == ["all", "assistant-only"]
    assert complete("sftmask inspect x --truncation d") == ["drop"]
    assert "--role-key" in complete("sftmask inspect --ro")


def test_docs_option_tables_are_generated_from_the_command() -> None:
    spec = importlib.util.spec_from_file_location("cli_reference", REPO / "scripts" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    readme = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert reference.section(readme) == reference.reference().strip("\n"), "run scripts/cli_reference.py"
    for option in BUILD_OPTIONS:
        assert f"`{option.names[0]}" in reference.section(readme)


def test_summary_counts_are_singular_for_one(tmp_path: Path) -> None:
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"prompt": "Hi", "response": " there"}) + "\n", encoding="utf-8")
    result = run("build", str(data), "-t", SAMPLE_TOKENIZER, "-o", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote 1 row (") and " in 1 shard to " in result.stdout


def test_summary_line_plurals() -> None:
    from sftmask.cli.display import summary_line

    counts = {"rows_written": 2, "tokens": 1, "trained_tokens": 1, "truncated": 1, "rejected": 0}
    assert summary_line("o", counts, 2) == "wrote 2 rows (1 token, 100.0% trained) in 2 shards to o; 1 truncated"


def test_options_not_given_build_no_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Typer builds a pydantic validator for each option it parses, given or not (only to turn a
    missing value into None): 64 per build before. An option not given now stays None at once."""
    import typer.core

    built: list[Any] = []
    real = typer.core.build_runtime_param

    def build_runtime_param(descriptor: Any) -> Any:
        built.append((getattr(descriptor.parameter_info, "param_decls", None) or ("",))[0])
        return real(descriptor)

    seen = _capture_given(monkeypatch)
    monkeypatch.setattr(typer.core, "build_runtime_param", build_runtime_param)
    run("build", "x.jsonl", "-t", "tok", "--max-length", "64", "--no-add-eos")
    assert {key: value for key, value in seen[0].items() if value is not None} == {
        "inputs": ["x.jsonl"],
        "tokenizer": "tok",
        "max_length": 64,
        "add_eos": False,
    }
    flags = {option.names[0] for option in BUILD_OPTIONS}
    assert [flag for flag in built if flag in flags] == ["--tokenizer", "--max-length"]  # a switch needs none
    # A value given is still parsed and refused by Typer itself, with its message.
    result = run("build", "x.jsonl", "--max-length", "many")
    assert result.exit_code == 2
    shown = " ".join(word for word in result.stderr.split() if word != "│")
    assert "Invalid value for '--max-length': Input should be a valid integer, unable to parse string" in shown
