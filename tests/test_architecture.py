"""The layout of ARCHITECTURE.md holds: import layers, independent data kinds, a cheap front door."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sftmask
from sftmask.config.build import BuildConfig
from sftmask.config.common import CommonOptions
from sftmask.kinds import DATA_KINDS, kinds_for
from sftmask.labels.strategies import STRATEGIES

REPO = Path(__file__).resolve().parent.parent


def test_import_layers_and_independent_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    # The contracts are in pyproject.toml ([tool.importlinter]); True means every one is kept (the
    # report is on stdout). Import Linter's use case, not its CLI: that one reconfigures logging
    # (dictConfig disables existing loggers), which would change the process the tests run in.
    from importlinter import configuration
    from importlinter.application.use_cases import lint_imports

    monkeypatch.chdir(REPO)
    configuration.configure()
    assert lint_imports(cache_dir=None, no_logo=True)


def test_importing_sftmask_loads_nothing_heavy() -> None:
    code = "import sys, sftmask; print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {0})))"
    heavy = {"sftmask", "pyarrow", "numpy", "transformers", "tokenizers", "pydantic", "typer", "typing"}
    out = subprocess.run(
        [sys.executable, "-c", code.format(sorted(heavy))], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.split() == ["sftmask"]


def test_front_door_names_resolve() -> None:
    for name in sftmask.__all__:
        assert getattr(sftmask, name) is not None, name
    assert sftmask.build.__module__ == "sftmask.pipeline" and sftmask.ConfigError.__module__ == "sftmask.errors"
    with pytest.raises(AttributeError):
        _ = sftmask.nothing_here


def test_a_directly_built_config_raises_config_error() -> None:
    with pytest.raises(sftmask.ConfigError, match="unknown strategy 'nope'; choose one of: response-only"):
        BuildConfig(inputs=["x.jsonl"], tokenizer="t", output="o", strategy="nope")
    with pytest.raises(sftmask.ConfigError, match="missing option 'tokenizer'"):
        BuildConfig(inputs=["x.jsonl"], output="o")


# Which kinds each strategy applies to: `needs <= provides`, in registry order (the first is the default).
APPLIES_TO = {
    "response-only": ["prompt-response", "text"],
    "all": ["prompt-response", "chat", "text"],
    "assistant-only": ["chat"],
    "last-turn": ["chat"],
    "first-subtoken": ["prompt-response", "words", "text"],
}


def test_strategies_apply_to_the_kinds_providing_what_they_need() -> None:
    assert {name: kinds_for(strategy) for name, strategy in STRATEGIES.items()} == APPLIES_TO


@pytest.mark.parametrize("name", list(DATA_KINDS))
def test_every_kind_owns_documented_options_that_build_config_accepts(name: str) -> None:
    kind = DATA_KINDS[name]
    assert kind.name == name and issubclass(BuildConfig, kind.options)
    assert kind.own_options(), f"{name} has no options of its own"
    for option in kind.own_options():
        assert option not in CommonOptions.model_fields
        assert BuildConfig.model_fields[option].description, f"{name}: option {option} has no docstring"


def test_every_build_option_has_a_docstring() -> None:
    assert [name for name, field in BuildConfig.model_fields.items() if not field.description] == []


def test_default_data_kind_resolution() -> None:
    def kind(**options: object) -> str:
        return BuildConfig(inputs=["x"], tokenizer="t", output="o", **options).resolved_data_kind

    assert kind() == "prompt-response"
    assert kind(strategy="all") == "prompt-response"
    assert kind(strategy="last-turn") == "chat"
    assert kind(strategy="first-subtoken") == "prompt-response"
    assert kind(strategy="first-subtoken", tags_field="pos") == "words"
    with pytest.raises(sftmask.ConfigError, match="tags-field only apply to word-labelled data"):
        kind(tags_field="pos")
    assert kind(response_marker="### Response:") == kind(text_field="body") == "text"
    assert kind(strategy="first-subtoken", text_field="body") == "text"
    with pytest.raises(sftmask.ConfigError, match="text-field only apply to text data"):
        kind(strategy="last-turn", text_field="body")


def test_the_config_names_every_engine_and_only_those() -> None:
    from sftmask.config.common import ENGINE_NAMES
    from sftmask.engines import ENGINES

    assert tuple(ENGINES) == ENGINE_NAMES
