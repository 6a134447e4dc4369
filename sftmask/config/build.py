"""The typed build configuration, from CLI flags and/or a YAML or TOML file (flags win)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError, field_validator, model_validator

from sftmask.chat.templates import SHIPPED
from sftmask.config.common import ENGINE_NAMES
from sftmask.config.options import BuildOptions
from sftmask.errors import ConfigError, did_you_mean
from sftmask.io.formats import DataFormat
from sftmask.kinds import DATA_KINDS, DataKind, kinds_for
from sftmask.labels.strategies import STRATEGIES
from sftmask.limits import clip, load_yaml, read_text_file

OUTPUT_COLUMNS = ("input_ids", "attention_mask", "labels", "assistant_masks")
"""The token columns of every output row; kept input fields cannot take these names."""
INTERNAL_PREFIX = "_sftmask"
"""Prefix of the reader's own columns (file and line of each record)."""


class BuildConfig(BuildOptions):
    """Everything `sftmask build` needs: every option (`BuildOptions`, no field of its own) and the
    checks across options that need the registries (strategies, data kinds, engines).

    The same keys work as flags and in a config file. Built directly, invalid values raise
    `ConfigError` (listing every problem) like `load_config` does.

    >>> BuildConfig(inputs=["data.jsonl"], tokenizer="gpt2", output="out").resolved_data_kind
    'prompt-response'
    >>> BuildConfig(inputs=["data.jsonl"], tokenizer="gpt2", output="out", strategy="nope")
    Traceback (most recent call last):
    ...
    sftmask.errors.ConfigError: strategy: unknown strategy 'nope'; choose one of: response-only, all, assistant-only, last-turn, first-subtoken
    """

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(describe(exc, None)) from None

    mixes_sources: ClassVar[bool] = False
    """Whether this config mixes sources (a recipe: `sftmask.config.recipe.RecipeConfig`)."""

    @model_validator(mode="after")
    def _mixing_needs_sources(self) -> BuildConfig:
        if not self.mixes_sources and "stopping_strategy" in self.model_fields_set:
            raise ValueError("stopping-strategy applies to a recipe whose entries have weights (see docs/recipes.md)")
        return self

    @property
    def kind(self) -> DataKind[Any]:
        """The data kind that reads the records."""
        return DATA_KINDS[self.resolved_data_kind]

    @property
    def next_token_labels(self) -> bool:
        """Whether labels are next-token targets (language-modelling data: token ids that a causal
        model's trainer shifts), not tags a token is classified by."""
        return "lm_targets" in self.kind.provides

    @property
    def writes_assistant_masks(self) -> bool:
        """Whether rows get an `assistant_masks` column: language-modelling data (labels are token
        ids, not tags), unpacked (a packed row's labels already carry the masking)."""
        return self.assistant_masks and self.next_token_labels and self.pack_length is None

    @property
    def resolved_data_kind(self) -> str:
        """`data_kind`; else the first kind providing what the strategy needs whose own options
        select it when given (`words`, `text`); else the first kind providing what the strategy needs."""
        if self.data_kind is not None:
            return self.data_kind
        kinds = kinds_for(STRATEGIES[self.strategy])
        for name in kinds:
            if DATA_KINDS[name].options_select and DATA_KINDS[name].options_given(self):
                return name
        return kinds[0]

    @model_validator(mode="before")
    @classmethod
    def _strategy_of_the_kind(cls, data: Any) -> Any:
        # --data-kind chat (or words) without --strategy: the kind's own (assistant-only,
        # first-subtoken), as a build that detects such records uses, not response-only.
        if isinstance(data, dict) and data.get("strategy") is None and data.get("data_kind") in DATA_KINDS:
            return {**data, "strategy": DATA_KINDS[data["data_kind"]].default_strategy}
        return data

    @model_validator(mode="before")
    @classmethod
    def _rows_fit_packs(cls, data: Any) -> Any:
        # Whole-example packing needs every row to fit a packed row: the rows are truncated at it.
        if (
            isinstance(data, dict)
            and data.get("pack_length") is not None
            and data.get("pack_strategy", "bfd") == "bfd"
            and data.get("max_length") is None
        ):
            return {**data, "max_length": data["pack_length"]}
        return data

    @model_validator(mode="after")
    def _packing_fits(self) -> BuildConfig:
        if self.pack_length is None:
            given = [
                name.replace("_", "-") for name in ("pack_strategy", "pack_window") if name in self.model_fields_set
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} {'need' if len(given) > 1 else 'needs'} pack-length N (tokens per packed row)"
                )
            return self
        if self.resolved_data_kind == "words":
            raise ValueError(
                "pack-length applies to language-model data; word-labelled (token classification) data is not packed"
            )
        if self.pack_strategy == "wrapped" and self.strategy != "all":
            raise ValueError(
                f"pack-strategy wrapped joins examples so that each attends to those before it in its row, which "
                f"only suits training every token (strategy all), not {self.strategy!r}; use pack-strategy bfd"
            )
        if self.pack_strategy == "bfd" and self.max_length is not None and self.max_length > self.pack_length:
            raise ValueError(
                f"max-length {self.max_length} is longer than pack-length {self.pack_length}: a row must fit a packed "
                "row; lower max-length (rows longer than pack-length follow truncation by default)"
            )
        return self

    @model_validator(mode="after")
    def _strategy_fits_data(self) -> BuildConfig:
        kinds = kinds_for(STRATEGIES[self.strategy])
        if self.data_kind is not None and self.data_kind not in DATA_KINDS:
            raise ValueError(
                f"unknown data kind {self.data_kind!r}{did_you_mean(self.data_kind, DATA_KINDS)}; "
                f"choose one of: {', '.join(DATA_KINDS)}"
            )
        if self.data_kind is not None and self.data_kind not in kinds:
            raise ValueError(
                f"strategy {self.strategy!r} does not apply to {self.data_kind!r} data; it applies to {', '.join(kinds)}"
            )
        template = self.chat_template
        if template is not None and not Path(template).is_file() and template not in SHIPPED:
            raise ValueError(
                f"chat template file not found: {template}{did_you_mean(template, SHIPPED)} "
                f"(shipped templates: {', '.join(SHIPPED)})"
            )
        if self.engine != "ray" and (
            self.ray_address is not None
            or self.ray_workers is not None
            or self.ray_read != "auto"
            or self.ray_write != "driver"
        ):
            raise ValueError("--ray-address, --ray-workers, --ray-read and --ray-write apply to --engine ray")
        if self.ray_write == "workers":
            needs_the_stream = {
                "--keep-columns": bool(self.keep_columns),
                "--val-size": self.val_size is not None,
                "--test-size": self.test_size is not None,
                "--dedup": self.dedup,
                "--shuffle": self.shuffle,
            }
            for what, given in needs_the_stream.items():
                if given:
                    raise ValueError(
                        f"--ray-write workers writes each batch where it is labelled, so {what} needs --ray-write driver"
                    )
        if self.ray_read == "workers" and self.keep_columns:
            raise ValueError(
                "--ray-read workers reads each file on its own, so --keep-columns (one type over all files) "
                "needs --ray-read driver"
            )
        if self.engine == "ray" and self.num_proc > 1:
            raise ValueError("--num-proc applies to --engine local; with --engine ray pass --ray-workers")
        chosen = self.resolved_data_kind
        for name, kind in DATA_KINDS.items():
            kind.check(self, chosen=name == chosen)
        return self

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {value!r}{did_you_mean(value, STRATEGIES)}; choose one of: {', '.join(STRATEGIES)}"
            )
        return value

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value not in ENGINE_NAMES:
            raise ValueError(
                f"unknown engine {value!r}{did_you_mean(value, ENGINE_NAMES)}; choose one of: {', '.join(ENGINE_NAMES)}"
            )
        return value

    @field_validator("keep_columns", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("keep_columns")
    @classmethod
    def _keepable(cls, value: list[str]) -> list[str]:
        for name in value:
            if name in OUTPUT_COLUMNS:
                raise ValueError(
                    f"{name!r} is a column sftmask writes ({', '.join(OUTPUT_COLUMNS)}); a kept input field "
                    "cannot replace it: rename the field in the input, or leave it out"
                )
            if name.startswith(INTERNAL_PREFIX):
                raise ValueError(f"{name!r}: names starting with {INTERNAL_PREFIX!r} are sftmask's own")
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"{', '.join(map(repr, duplicates))} given more than once")
        return value


def with_format(config: BuildConfig, fmt: DataFormat) -> BuildConfig | None:
    """`config` reading records of format `fmt`: the format's data kind, strategy and field options
    where the user gave none; None when the options given read the records another way (a data
    kind, a strategy that does not apply to the format's kind, or one of its field options set to
    another value: the user's options win).
    """
    given = config.model_fields_set
    if config.data_kind is not None and config.data_kind != fmt.data_kind:
        return None
    chosen_by_options = any(
        DATA_KINDS[name].options_select and DATA_KINDS[name].options_given(config)
        for name in kinds_for(STRATEGIES[config.strategy])
    )
    if chosen_by_options and config.resolved_data_kind != fmt.data_kind:
        return None
    strategy = config.strategy if "strategy" in given else fmt.strategy or config.strategy
    if fmt.data_kind not in kinds_for(STRATEGIES[strategy]):
        return None
    if any(key in given and getattr(config, key) != value for key, value in fmt.settings.items()):
        return None
    options = {key: getattr(config, key) for key in given}
    return BuildConfig(**(options | fmt.settings | {"data_kind": fmt.data_kind, "strategy": strategy}))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (`.yaml`/`.yml`) or TOML (`.toml`) config file into a dict of options.

    Keys may be written with dashes (`max-length`) or underscores (`max_length`).
    """
    import tomllib  # here: most builds read no config file

    import yaml

    path = Path(path)
    text = read_text_file(path, "config file", ConfigError)
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = load_yaml(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        msg = clip(" ".join(str(exc).split()), 500)
        raise ConfigError(f"{path}: not a valid config file: {msg}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of option: value")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def make_config(
    options: dict[str, Any], config_file: str | Path | None = None, *, names: Mapping[str, str] | None = None
) -> BuildConfig:
    """Merge a config file with explicitly given options (options win) and validate once.

    Args:
        options: options given on the command line; `None` values count as not given.
        config_file: optional YAML/TOML file with the same keys.
        names: how messages name a missing option (`-t/--tokenizer`, `INPUT`), by config key;
            by default its key.

    Raises:
        ConfigError: listing every invalid or unknown key at once.
    """
    merged: dict[str, Any] = read_config_file(config_file) if config_file else {}
    merged.update({key: value for key, value in options.items() if value is not None})
    if "datasets" in merged:
        raise ConfigError(
            f"{config_file or 'datasets'}: a recipe (a datasets: list) is built by `sftmask build --config`; "
            "to look at one of its sources, pass that entry's inputs and options"
        )
    try:
        return BuildConfig.model_validate(merged)
    except ConfigError as exc:
        # Validation runs BuildConfig.__init__, which words the problems without the file's name
        # or the names given here; word them again from its ValidationError.
        if isinstance(exc.__context__, ValidationError):
            raise ConfigError(describe(exc.__context__, config_file, names)) from None
        raise


def load_config(config_file: str | Path | None = None, /, **options: Any) -> BuildConfig:
    """A build config from a YAML/TOML file and/or options given as keywords (keywords win).

    Keys are the `sftmask build` flags with underscores (`max_length`); in a file dashes work too.

    >>> load_config(inputs=["data.jsonl"], tokenizer="gpt2", output="out", max_length=512).max_length
    512
    >>> load_config(inputs=["data.jsonl"], tokenizer="gpt2", output="out", max_lenght=512)
    Traceback (most recent call last):
    ...
    sftmask.errors.ConfigError: unknown option 'max_lenght' (did you mean 'max_length'?) (valid options: inputs, ...)

    Raises:
        ConfigError: the file cannot be read, or keys are unknown or invalid (all listed at once).
    """
    return make_config(options, config_file)


def describe(exc: ValidationError, config_file: str | Path | None, names: Mapping[str, str] | None = None) -> str:
    problems = []
    missing = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            valid = ", ".join(name.replace("_", "-") for name in BuildConfig.model_fields)
            problems.append(
                f"unknown option '{key}'{did_you_mean(key, BuildConfig.model_fields)} (valid options: {valid})"
            )
        elif err["type"] == "missing" and names is not None:
            missing.append(names.get(key, key))
        elif err["type"] == "missing":
            problems.append(f"missing option '{key.replace('_', '-')}'")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{key.replace('_', '-')}: {msg}" if key else msg)
    if missing:
        listed = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
        problems.insert(0, f"missing {listed}")
    where = f"{config_file}: " if config_file else ""
    return where + "; ".join(problems)
