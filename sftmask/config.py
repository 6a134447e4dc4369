"""The typed build configuration, from CLI flags and/or a YAML or TOML file (flags win)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sftmask.errors import ConfigError
from sftmask.strategies import STRATEGIES

InputFormat = Literal["jsonl", "json", "csv", "tsv", "parquet", "arrow"]
Truncation = Literal["prompt", "response", "drop"]
OutputFormat = Literal["parquet", "arrow"]
OnError = Literal["fail", "skip"]
MessagesFormat = Literal["openai", "sharegpt"]


class BuildConfig(BaseModel):
    """Everything `sftmask build` needs; the same keys work as flags and in a config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[str] = Field(min_length=1)
    """Input files or globs, read in the order given; `-` reads JSONL from stdin."""
    tokenizer: str
    """Hugging Face Hub name or local folder, loaded with `AutoTokenizer.from_pretrained`."""
    output: str
    """Output directory (created; refused if it exists and is not empty, unless `overwrite`)."""
    input_format: InputFormat | None = None
    """Overrides the format guessed from each input's suffix (`json`: one JSON array of records)."""
    prompt_field: str = "prompt"
    """Record field holding the prompt (masked with -100)."""
    response_field: str = "response"
    """Record field holding the response (trained)."""
    strategy: str = "response-only"
    """Masking strategy; see `sftmask.strategies.STRATEGIES`."""
    max_length: int | None = Field(default=None, gt=0)
    """Maximum tokens per row; longer rows are truncated as `truncation` says."""
    truncation: Truncation = "prompt"
    """`prompt`: drop prompt tokens from the left (keeping leading specials such as BOS), then
    cut the response end; `response`: cut the row's end; `drop`: reject the record."""
    add_eos: bool = True
    """Append the tokenizer's EOS after the response and train on it."""
    format: OutputFormat = "parquet"
    """`parquet` shards, or `arrow` as written by `Dataset.save_to_disk`."""
    rows_per_shard: int = Field(default=100_000, gt=0)
    """Rows per output shard."""
    assistant_masks: bool = True
    """Write `assistant_masks` (`list<int8>`, 1 where `labels != -100`) beside `labels`, for the
    language-modelling data kinds (not words data): trainers that rebuild labels (TRL before 1.16
    with packing) keep the masking from it."""
    keep_columns: list[str] = Field(default_factory=list)
    """Original record fields passed through to the output."""
    on_error: OnError = "fail"
    """`fail` stops at the first bad record; `skip` writes it to rejects.jsonl and goes on."""
    overwrite: bool = False
    """Replace an existing non-empty output directory."""
    trust_remote_code: bool = False
    """Allow a tokenizer whose code lives in its Hub repository."""
    batch_size: int = Field(default=1000, gt=0)
    """Records tokenized per batch (memory grows with it; speed barely changes above ~500)."""
    split: str = "train"
    """The split read from a `DatasetDict.save_to_disk` folder, and the split name in shard file
    names (`train-00000-of-00001.parquet`)."""
    num_proc: int = Field(default=1, ge=1)
    """Worker processes for tokenization. 1 (default) is fastest on small machines: the Rust
    tokenizer already uses every core; more processes help when many cores leave one Python
    process as the bottleneck. Output is byte-identical for every value."""
    engine: str = "local"
    """What runs the labelling over batches (see `sftmask.engines.ENGINES`): `local` (this
    machine, `num_proc` processes)."""
    data_kind: str | None = None
    """Kind of input record (see `sftmask.formatting.DATA_KINDS`); by default the strategy's first,
    or `words` when a words option (`tokens_field`, `tags_field`, `label_names`,
    `label_all_subtokens`) is given with a strategy that applies to words, or `text` when a text
    option (`text_field`, `response_marker`) is given."""
    messages_field: str | None = None
    """Chat data: field holding the conversation (default `messages`, `conversations` for sharegpt)."""
    messages_format: MessagesFormat = "openai"
    """Chat data: `openai` (`role`/`content`) or `sharegpt` (`from`/`value`, human/gpt/system/tool)."""
    role_key: str | None = None
    """Chat data: the key of a message's role, overriding `messages_format`'s."""
    content_key: str | None = None
    """Chat data: the key of a message's text, overriding `messages_format`'s."""
    tools_field: str = "tools"
    """Chat data: field with tool definitions passed to the chat template, when a record has it."""
    chat_template: str | None = None
    """Jinja chat template file overriding the tokenizer's own, or a shipped one by name (`chatml`,
    `chatml-generation`, `mistral-inst`, `mistral-inst-generation`)."""
    template: str | None = None
    """Prompt/response data: a prompt template (a shipped name: alpaca, chatml, question-answer; or a YAML file), or
    `chat` to render prompt and response as a user/assistant exchange with the chat template."""
    tokens_field: str | None = None
    """Words data: record field holding the list of words (default `tokens`)."""
    tags_field: str | None = None
    """Words data: record field holding the parallel list of tags, ints or strings (default `ner_tags`)."""
    label_names: str | list[str] | None = None
    """Words data: label names in id order: a file with one name per line, `B-PER,I-PER,...`, or a
    list. Without it, integer tags are ids as they are and string tags get ids in sorted order."""
    label_all_subtokens: bool | None = None
    """Words data: label continuation sub-tokens too (`B-X` becomes `I-X` when the names are BIO)."""

    text_field: str | None = None
    """Text data: record field holding the pre-formatted text (default `text`)."""
    response_marker: str | None = Field(default=None, min_length=1)
    """Text data: the text after this marker's first occurrence is trained, the rest is -100;
    without it every token is trained. A record without the marker is rejected."""

    @property
    def text_options_given(self) -> bool:
        """Whether an option that only text data uses was given."""
        return self.text_field is not None or self.response_marker is not None

    @property
    def words_options_given(self) -> bool:
        """Whether any option that only word-labelled data uses was given."""
        return any(
            value is not None
            for value in (self.tokens_field, self.tags_field, self.label_names, self.label_all_subtokens)
        )

    @property
    def writes_assistant_masks(self) -> bool:
        """Whether the output gets an `assistant_masks` column (labels are token ids, not tags)."""
        return self.assistant_masks and self.resolved_data_kind != "words"

    @property
    def resolved_messages_field(self) -> str:
        """`messages_field`, or the messages format's usual field name."""
        return self.messages_field or ("conversations" if self.messages_format == "sharegpt" else "messages")

    @property
    def renders_chat(self) -> bool:
        """Rows come from a chat template (which writes its own end-of-turn tokens; no EOS is added)."""
        return self.resolved_data_kind == "chat" or self.template == "chat"

    @property
    def resolved_data_kind(self) -> str:
        """`data_kind`; else `words` when words options are given and the strategy applies to words
        data; else the first kind the strategy applies to."""
        if self.data_kind is not None:
            return self.data_kind
        kinds = STRATEGIES[self.strategy].data_kinds
        if self.words_options_given and "words" in kinds:
            return "words"
        if self.text_options_given and "text" in kinds:
            return "text"
        return kinds[0]

    @property
    def resolved_tokens_field(self) -> str:
        return self.tokens_field or "tokens"

    @property
    def resolved_tags_field(self) -> str:
        return self.tags_field or "ner_tags"

    @model_validator(mode="after")
    def _strategy_fits_data(self) -> BuildConfig:
        from sftmask.formatting import DATA_KINDS

        kinds = STRATEGIES[self.strategy].data_kinds
        if self.data_kind is not None and self.data_kind not in DATA_KINDS:
            raise ValueError(f"unknown data kind {self.data_kind!r}; choose one of: {', '.join(DATA_KINDS)}")
        if self.data_kind is not None and self.data_kind not in kinds:
            raise ValueError(
                f"strategy {self.strategy!r} does not apply to {self.data_kind!r} data; it applies to {', '.join(kinds)}"
            )
        if self.template is not None:
            if self.resolved_data_kind != "prompt-response":
                raise ValueError("--template applies to prompt/response data; chat data uses --chat-template FILE")
            if self.template != "chat":
                from sftmask.prompt_templates import load_template

                try:
                    load_template(self.template)
                except ConfigError as exc:
                    raise ValueError(str(exc)) from exc
        if self.chat_template is not None:
            from sftmask.chat import resolve_chat_template

            try:
                resolve_chat_template(self.chat_template)
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
        if self.words_options_given and self.resolved_data_kind != "words":
            given = [
                name.replace("_", "-")
                for name in ("tokens_field", "tags_field", "label_names", "label_all_subtokens")
                if getattr(self, name) is not None
            ]
            raise ValueError(
                f"{', '.join(given)} only apply to word-labelled data (--data-kind words), which strategy "
                f"{self.strategy!r} does not read; use --strategy first-subtoken"
            )
        if self.text_options_given and self.resolved_data_kind != "text":
            given = [name.replace("_", "-") for name in ("text_field", "response_marker") if getattr(self, name)]
            raise ValueError(f"{', '.join(given)} only apply to text data (--data-kind text)")
        return self

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; choose one of: {', '.join(STRATEGIES)}")
        return value

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        from sftmask.engines import ENGINES

        if value not in ENGINES:
            raise ValueError(f"unknown engine {value!r}; choose one of: {', '.join(ENGINES)}")
        return value

    @field_validator("keep_columns", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (`.yaml`/`.yml`) or TOML (`.toml`) config file into a dict of options.

    Keys may be written with dashes (`max-length`) or underscores (`max_length`).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        msg = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not a valid config file: {msg}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of option: value")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def make_config(options: dict[str, Any], config_file: str | Path | None = None) -> BuildConfig:
    """Merge a config file with explicitly given options (options win) and validate once.

    Args:
        options: options given on the command line; `None` values count as not given.
        config_file: optional YAML/TOML file with the same keys.

    Raises:
        ConfigError: listing every invalid or unknown key at once.
    """
    merged: dict[str, Any] = read_config_file(config_file) if config_file else {}
    merged.update({key: value for key, value in options.items() if value is not None})
    try:
        return BuildConfig(**merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_file)) from exc


def _describe(exc: ValidationError, config_file: str | Path | None) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            valid = ", ".join(name.replace("_", "-") for name in BuildConfig.model_fields)
            problems.append(f"unknown option '{key}' (valid options: {valid})")
        elif err["type"] == "missing":
            problems.append(f"missing option '{key.replace('_', '-')}'")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{key.replace('_', '-')}: {msg}" if key else msg)
    where = f"{config_file}: " if config_file else ""
    return where + "; ".join(problems)
