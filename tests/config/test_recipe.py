"""Recipe configs: per-source options are BuildOptions' own fields; errors name the entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sftmask.config.options import BuildOptions
from sftmask.config.recipe import BUILD_KEYS, SOURCE_KEYS, RecipeConfig, Source, load_config
from sftmask.errors import ConfigError


def write(tmp: Path, **data: object) -> Path:
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump({"tokenizer": "t", "output": "out", **data}))
    return path


def test_entry_fields_are_build_options_fields() -> None:
    assert set(SOURCE_KEYS) | BUILD_KEYS == set(BuildOptions.model_fields)
    for key in SOURCE_KEYS:
        mine, theirs = Source.model_fields[key], BuildOptions.model_fields[key]  # the same definition
        assert (mine.annotation, mine.metadata, mine.description) == (
            theirs.annotation,
            theirs.metadata,
            theirs.description,
        )
        assert mine.get_default(call_default_factory=True) == theirs.get_default(call_default_factory=True)
    assert not BUILD_KEYS & set(Source.model_fields)


def test_entries_become_build_configs_with_top_level_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        chat_template="chatml",
        max_length=64,
        datasets=[
            {"name": "a", "inputs": ["a.jsonl"], "template": "alpaca"},
            {"name": "b", "inputs": ["b.jsonl"], "roles-to-train": "assistant,tool", "strategy": "assistant-only"},
        ],
    )
    config = load_config(path)
    assert isinstance(config, RecipeConfig) and config.inputs == ["a.jsonl", "b.jsonl"]
    (a, first), (_, second) = config.sources()
    assert (a.name, first.template, first.max_length, first.chat_template) == ("a", "alpaca", 64, "chatml")
    assert second.roles_to_train == ["assistant", "tool"]  # BuildOptions' validator, reused
    assert second.resolved_data_kind == "chat" and "template" not in second.model_fields_set


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"max_length": 5}, "datasets[0].max_length: max-length is the whole build's; set it at the top level"),
        ({"prompt_feild": "q"}, "datasets[0] (a): unknown option 'prompt_feild' (did you mean 'prompt_field'?)"),
        ({"take": 0}, "datasets[0] (a).take: 0 is not a count of rows (1 or more)"),
        ({"take": 1.5}, "datasets[0] (a).take: 1.5 is not a fraction in (0, 1] nor a count of rows"),
        ({"weight": 1}, "weights interleave the sources; give every entry a weight, or none"),
        ({"weight": float("inf")}, "datasets[0] (a).weight: Input should be a finite number"),  # was a traceback
        ({"name": "b"}, "datasets: b named more than once"),
        ({"name": "a b"}, "'a b': a name is letters, digits"),
    ],
)
def test_entry_errors_name_the_entry(tmp_path: Path, entry: dict[str, object], problem: str) -> None:
    datasets = [{"name": "a", "inputs": ["a.jsonl"], **entry}, {"name": "b", "inputs": ["b.jsonl"]}]
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, datasets=datasets))
    assert problem in str(caught.value) and str(caught.value).startswith(f"{tmp_path}/recipe.yaml: ")


def test_an_entry_whose_options_do_not_fit_is_named(tmp_path: Path) -> None:
    entry = {"name": "ner", "inputs": ["n.jsonl"], "data_kind": "words", "strategy": "assistant-only"}
    config = load_config(write(tmp_path, datasets=[entry]))
    with pytest.raises(ConfigError, match=r"^datasets\[0\] \(ner\): strategy 'assistant-only' does not apply"):
        config.sources()
    entry.pop("strategy")  # the kind's own strategy, as a build that detects such records uses
    (_, ner), *_ = load_config(write(tmp_path, datasets=[entry])).sources()
    assert (ner.strategy, ner.resolved_data_kind) == ("first-subtoken", "words")


def test_top_level_inputs_with_datasets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a recipe's inputs are its datasets'"):
        load_config(write(tmp_path, inputs=["x.jsonl"], datasets=[{"name": "a", "inputs": ["a.jsonl"]}]))


def test_stopping_strategy_needs_weighted_entries(tmp_path: Path) -> None:
    entries = [{"name": "a", "inputs": ["a.jsonl"]}]
    with pytest.raises(ConfigError, match="stopping-strategy applies to a recipe whose entries have weights"):
        load_config(write(tmp_path, stopping_strategy="all_exhausted", datasets=entries))
    with pytest.raises(ConfigError, match="stopping-strategy applies to a recipe whose entries have weights"):
        load_config(inputs=["a.jsonl"], tokenizer="t", output="o", stopping_strategy="all_exhausted")
    weighted = [{**entries[0], "weight": 1}]
    config = load_config(write(tmp_path, stopping_strategy="all_exhausted", datasets=weighted))
    assert isinstance(config, RecipeConfig) and config.weights == [1.0]
    assert all("stopping_strategy" not in c.model_fields_set for _, c in config.sources())
