"""A recipe: one build from several sources (a config file's `datasets:` list), each read its own way.

A recipe is a config file with the build's options (tokenizer, `max_length`, packing, output,
splits) and a `datasets:` list. Each entry names a source and gives its inputs and any option
that says how its records become rows (data kind, fields, prompt or chat template, strategy...),
plus how much of it to take. An entry's options are the very fields of `BuildOptions` (one
definition each, validators included); the build's own options are refused in an entry. Options
at the top level that an entry may set are every entry's defaults. Each source is then one
`BuildConfig` (`RecipeConfig.sources`), validated with every check a single-source build gets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from sftmask.config import build
from sftmask.config.build import BuildConfig, read_config_file
from sftmask.config.options import BuildOptions
from sftmask.errors import ConfigError, did_you_mean

BUILD_KEYS = frozenset(
    {
        "tokenizer",
        "output",
        "max_length",
        "format",
        "rows_per_shard",
        "assistant_masks",
        "keep_columns",
        "overwrite",
        "trust_remote_code",
        "batch_size",
        "num_proc",
        "engine",
        "ray_address",
        "ray_workers",
        "ray_cpus_per_worker",
        "ray_read",
        "max_reject_rate",
        "pack_length",
        "pack_strategy",
        "pack_window",
        "val_size",
        "test_size",
        "shuffle",
        "seed",
        "dedup",
        "stopping_strategy",
    }
)
"""Options of the whole build (one tokenizer, one row length, one output): not per source."""
MIXING_KEYS = frozenset({"val_size", "test_size", "shuffle", "seed", "dedup", "stopping_strategy"})
"""Build options the mixing stage reads from the recipe itself (not passed on to its sources)."""
SOURCE_KEYS = tuple(name for name in BuildOptions.model_fields if name not in BUILD_KEYS)
"""Options a `datasets:` entry may set: how its records are read and become rows."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _reused_validators() -> dict[str, Any]:
    """`BuildOptions`' field validators of the per-source fields, attached to the entry model too
    (so ``roles_to_train: assistant,tool`` is split in an entry as at the top level)."""
    validators: dict[str, Any] = {}
    for name, decorator in BuildOptions.__pydantic_decorators__.field_validators.items():
        fields = [f for f in decorator.info.fields if f in SOURCE_KEYS]
        if fields:
            function = getattr(decorator.func, "__func__", decorator.func)  # the classmethod's function
            validators[name] = field_validator(*fields, mode=decorator.info.mode)(classmethod(function))
    return validators


class SourceBase(BaseModel):
    """What a `datasets:` entry holds besides its options: its name and how much of it to take."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str
    """The source's name: the `source` column of its rows and its key in the manifest's counts."""
    take: int | float | None = None
    """How much of the source to take: all of it (unset), a count (its first N rows, in input
    order) or a fraction (the rows whose record hash falls in that share: the same rows on every
    run, and a larger file keeps them)."""
    weight: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Interleave the sources' training rows: each next row comes from this source with
    probability weight / sum of weights (a random draw seeded by --seed, so the same on every run),
    until a source runs out (`stopping_strategy`). Every entry or none has one."""

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError(f"{value!r}: a name is letters, digits, '_', '.', '-' (up to 64), e.g. alpaca")
        return value

    @field_validator("take")
    @classmethod
    def _amount(cls, value: int | float | None) -> int | float | None:
        if isinstance(value, float) and not 0 < value <= 1:
            raise ValueError(f"{value} is not a fraction in (0, 1] nor a count of rows")
        if isinstance(value, int) and value < 1:
            raise ValueError(f"{value} is not a count of rows (1 or more)")
        return value


Source = create_model(  # type: ignore[call-overload]
    "Source",
    __base__=SourceBase,
    __doc__="One entry of a recipe's `datasets:` list: its name, amount and per-source options.",
    __validators__=_reused_validators(),
    **{name: (BuildOptions.model_fields[name].annotation, BuildOptions.model_fields[name]) for name in SOURCE_KEYS},
)
"""One entry of `datasets:`: `SourceBase` plus every per-source option, the same fields as `BuildOptions`'."""


class RecipeConfig(BuildConfig):
    """A build of several sources: the build's options (a `BuildConfig`, whose `inputs` are all the
    sources' inputs) and the `datasets:` entries, each one `BuildConfig` (`sources`)."""

    datasets: list[SerializeAsAny[SourceBase]] = Field(min_length=1)
    """The sources, in order (each a `Source`: `SourceBase` and its options)."""

    @model_validator(mode="before")
    @classmethod
    def _inputs_of_sources(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("datasets"), list):
            return data
        if data.get("inputs"):
            raise ValueError(
                "a recipe's inputs are its datasets' (each entry's `inputs`); remove the top-level inputs "
                "(or the INPUT arguments)"
            )
        inputs = [path for entry in data["datasets"] if isinstance(entry, dict) for path in entry.get("inputs") or []]
        return {**data, "inputs": inputs or ["-"]}

    @field_validator("datasets", mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value  # the field's own check says what is wrong
        entries: list[SourceBase] = []
        problems = []
        for i, raw in enumerate(value):
            if not isinstance(raw, dict):
                problems.append(f"datasets[{i}] is not a mapping of option: value")
                continue
            raw = {str(key).replace("-", "_"): item for key, item in raw.items()}
            for key in raw:
                if key in BUILD_KEYS:
                    problems.append(
                        f"datasets[{i}].{key}: {key.replace('_', '-')} is the whole build's; set it at the top level"
                    )
            try:
                entries.append(Source.model_validate({k: v for k, v in raw.items() if k not in BUILD_KEYS}))
            except ValidationError as exc:
                problems += [_entry_problem(i, raw.get("name"), err) for err in exc.errors()]
        names = [entry.name for entry in entries]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            problems.append(f"datasets: {', '.join(twice)} named more than once; give each entry its own name")
        weighted = [entry.weight is not None for entry in entries]
        if any(weighted) and not all(weighted):
            problems.append("datasets: weights interleave the sources; give every entry a weight, or none")

        if problems:
            raise ValueError("; ".join(problems))
        return entries

    mixes_sources: ClassVar[bool] = True

    @model_validator(mode="after")
    def _stopping_needs_weights(self) -> RecipeConfig:
        if self.weights is None and "stopping_strategy" in self.model_fields_set:
            raise ValueError("stopping-strategy applies to a recipe whose entries have weights (weight: N)")
        return self

    @property
    def weights(self) -> list[float] | None:
        """The entries' weights, or None when the sources are concatenated."""
        weights = [entry.weight for entry in self.datasets]
        return [float(w) for w in weights if w is not None] if weights[0] is not None else None

    def sources(self) -> list[tuple[SourceBase, BuildConfig]]:
        """Each entry with its `BuildConfig`: the top-level options given (file and flags) with
        the entry's on top.

        Raises:
            ConfigError: an entry's options do not fit together (a strategy its data kind lacks...).
        """
        given = self.model_fields_set - {"datasets", "inputs"} - MIXING_KEYS
        defaults = {key: getattr(self, key) for key in given}
        result = []
        for i, entry in enumerate(self.datasets):
            options = entry.model_dump(include=entry.model_fields_set - {"name", "take", "weight"})
            try:
                result.append((entry, BuildConfig(**(defaults | options))))
            except ConfigError as exc:
                raise ConfigError(f"datasets[{i}] ({entry.name}): {exc}") from None
        return result


def _entry_problem(index: int, name: Any, err: Any) -> str:
    key = ".".join(str(part) for part in err["loc"])
    where = f"datasets[{index}]" + (f" ({name})" if isinstance(name, str) else "")
    if err["type"] == "extra_forbidden":
        valid = ("name", "take", "weight", *SOURCE_KEYS)
        return f"{where}: unknown option '{key}'{did_you_mean(key, valid)}"
    if err["type"] == "missing":
        return f"{where}: missing '{key}'"
    return f"{where}.{key}: {str(err['msg']).removeprefix('Value error, ')}"


def make_config(
    options: dict[str, Any], config_file: str | Path | None = None, *, names: Mapping[str, str] | None = None
) -> BuildConfig:
    """`sftmask.config.build.make_config`, or a `RecipeConfig` when the file has a `datasets:` list.

    Raises:
        ConfigError: listing every invalid or unknown key at once.
    """
    merged: dict[str, Any] = read_config_file(config_file) if config_file else {}
    if "datasets" not in merged and "datasets" not in options:
        return build.make_config(options, config_file, names=names)
    merged.update({key: value for key, value in options.items() if value is not None})
    try:
        return RecipeConfig.model_validate(merged)
    except ConfigError as exc:
        if isinstance(exc.__context__, ValidationError):
            raise ConfigError(build.describe(exc.__context__, config_file, names)) from None
        raise


def load_config(config_file: str | Path | None = None, /, **options: Any) -> BuildConfig:
    """A build config (a `RecipeConfig` for a file with `datasets:`) from a YAML/TOML file and/or
    keyword options (keywords win); see `sftmask.config.build.load_config`.

    Raises:
        ConfigError: the file cannot be read, or keys are unknown or invalid (all listed at once).
    """
    return make_config(options, config_file)
