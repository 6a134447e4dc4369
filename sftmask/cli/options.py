"""Every option of `sftmask build`, defined once: `build` takes them all, `inspect` those that change encoding.

Each option is a config key (`BuildConfig` field, the same key as in a config file), its flags,
metavar, help and help panel. `build_options` turns a list of them into command parameters, so a
new option is one entry here; the README's option table is generated from this list too
(`scripts/cli_reference.py`, checked by a test). Choices are listed here, not imported from the
library, so that `--help` and shell completion stay fast; a test checks them against the library.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

INPUT = "Input"
DATA_KIND = "Data kind"
CHAT = "Chat data"
WORDS = "Words data (NER, POS)"
TEXT = "Text data"
STRATEGY = "Strategy"
LENGTH = "Length"
OUTPUT = "Output"
PERFORMANCE = "Performance"
PANELS = (INPUT, DATA_KIND, CHAT, WORDS, TEXT, STRATEGY, LENGTH, OUTPUT, PERFORMANCE)
"""Help panels in the order `build --help` shows them."""

INPUT_FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "arrow")
STRATEGIES = ("response-only", "all", "assistant-only", "last-turn", "first-subtoken")
DATA_KINDS = ("prompt-response", "chat", "words", "text")
TEMPLATES = ("alpaca", "chatml", "question-answer", "chat")
MESSAGES_FORMATS = ("openai", "sharegpt")
REASONING = ("train", "mask", "drop")
TRAIN_ON_EOS = ("turn", "last", "none")
CHAT_TEMPLATES = ("chatml", "mistral-inst", "qwen3", "deepseek-r1", "phi-3.5", "mistral-nemo")
"""The shipped chat templates (`sftmask.chat.templates.SHIPPED`)."""
TRUNCATIONS = ("prompt", "response", "drop")
OUTPUT_FORMATS = ("parquet", "arrow")
ON_ERROR = ("fail", "skip")
ENGINES = ("local", "ray")
PACK_STRATEGIES = ("bfd", "wrapped")


@dataclass(frozen=True)
class BuildOption:
    """One option of `sftmask build`."""

    key: str
    """The config key (a `BuildConfig` field); also the flag, with dashes, unless `flags` says."""
    type: type
    help: str
    panel: str
    metavar: str = ""
    """What the value is (`N`, `FILE`, `[a|b]`); empty for a flag without a value."""
    default: str | None = None
    """The default as shown in `--help` and the README; None when there is none."""
    flags: tuple[str, ...] = ()
    """Flags, when not just `--key-with-dashes` (short forms, `--x/--no-x` pairs)."""
    choices: tuple[str, ...] = ()
    """Values offered by shell completion (the config still validates every value)."""
    encoding: bool = True
    """Whether the option changes the rows built; `inspect` accepts exactly those."""

    @property
    def names(self) -> tuple[str, ...]:
        return self.flags or (f"--{self.key.replace('_', '-')}",)

    def parameter(self) -> inspect.Parameter:
        """The keyword parameter Typer reads: value None when not given, so a config file can set it."""
        complete = _completer(self.choices) if self.choices else None
        option = typer.Option(
            *self.names,
            help=self.help if self.default is None else f"{self.help} [dim]\\[default: {self.default}][/dim]",
            metavar=self.metavar or None,
            rich_help_panel=self.panel,
            show_default=False,
            autocompletion=complete,
        )
        return inspect.Parameter(
            self.key,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[self.type | None, option],
        )


def _completer(choices: Sequence[str]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [choice for choice in choices if choice.startswith(incomplete)]

    return complete


def _choice_metavar(choices: Sequence[str]) -> str:
    return "[" + "|".join(choices) + "]"


BUILD_OPTIONS: tuple[BuildOption, ...] = (
    # Input
    BuildOption(
        "tokenizer",
        str,
        "Hugging Face Hub name or local folder of a fast tokenizer (AutoTokenizer).",
        INPUT,
        "NAME_OR_PATH",
        flags=("--tokenizer", "-t"),
    ),
    BuildOption(
        "input_format",
        str,
        "Format of every input, overriding the file suffix: jsonl, json (one array of records), csv, tsv, "
        "parquet or arrow.",
        INPUT,
        "FORMAT",
        "from the suffix",
        choices=INPUT_FORMATS,
    ),
    BuildOption(
        "delimiter",
        str,
        "CSV/TSV: the character between fields (tab or \\t for a tab); a .csv header without a comma is "
        "split at ; or tab when it holds one.",
        INPUT,
        "CHAR",
        ", (tab for .tsv)",
    ),
    BuildOption(
        "split",
        str,
        "Split read from a DatasetDict.save_to_disk folder; also names the shards (train-00000-of-00001.parquet).",
        INPUT,
        "NAME",
        "train",
    ),
    BuildOption(
        "on_error",
        str,
        "A bad record: fail stops the build; skip writes it to rejects.jsonl and goes on.",
        INPUT,
        _choice_metavar(ON_ERROR),
        "fail",
        choices=ON_ERROR,
    ),
    BuildOption(
        "trust_remote_code",
        bool,
        "Allow tokenizer code from the Hub repository.",
        INPUT,
        flags=("--trust-remote-code",),
    ),
    # Data kind
    BuildOption(
        "data_kind",
        str,
        "Kind of record: prompt-response, chat, words (word-labelled NER/POS data) or text (pre-formatted text).",
        DATA_KIND,
        "KIND",
        "the strategy's first; words or text when one of its options is given",
        choices=DATA_KINDS,
    ),
    BuildOption(
        "prompt_field",
        str,
        "Prompt/response data: field with the prompt (masked).",
        DATA_KIND,
        "FIELD",
        "prompt",
    ),
    BuildOption(
        "response_field",
        str,
        "Prompt/response data: field with the response (trained).",
        DATA_KIND,
        "FIELD",
        "response",
    ),
    BuildOption(
        "template",
        str,
        "Prompt/response data: prompt template (alpaca, chatml, question-answer), a YAML file, or chat "
        "(render as a user/assistant exchange with the chat template).",
        DATA_KIND,
        "NAME_OR_FILE",
        choices=TEMPLATES,
    ),
    # Chat data
    BuildOption(
        "messages_field",
        str,
        "Field with the list of messages.",
        CHAT,
        "FIELD",
        "messages; conversations for sharegpt",
    ),
    BuildOption(
        "messages_format",
        str,
        "openai (role/content) or sharegpt (from/value, human/gpt).",
        CHAT,
        _choice_metavar(MESSAGES_FORMATS),
        "openai",
        choices=MESSAGES_FORMATS,
    ),
    BuildOption("role_key", str, "Key of a message's role, overriding the format's.", CHAT, "KEY", "from the format"),
    BuildOption(
        "content_key", str, "Key of a message's text, overriding the format's.", CHAT, "KEY", "from the format"
    ),
    BuildOption("tools_field", str, "Field with tool schemas passed to the chat template.", CHAT, "FIELD", "tools"),
    BuildOption(
        "completion_field",
        str,
        "Field with completion messages (TRL's conversational prompt/completion): rendered after the "
        "--messages-field ones; assistant-only trains only them.",
        CHAT,
        "FIELD",
        "none; completion when detected",
    ),
    BuildOption(
        "roles_to_train",
        str,
        "assistant-only: comma-separated roles whose turns are trained, e.g. assistant,tool.",
        CHAT,
        "ROLES",
        "assistant",
    ),
    BuildOption(
        "message_train_field",
        str,
        "assistant-only: a message's boolean field; false masks the message, true trains it whatever its role.",
        CHAT,
        "FIELD",
    ),
    BuildOption(
        "train_on_eos",
        str,
        "Train each trained turn's end-of-turn token(s) (turn), only the last one (last), or none.",
        CHAT,
        _choice_metavar(TRAIN_ON_EOS),
        "turn",
        choices=TRAIN_ON_EOS,
    ),
    BuildOption(
        "require_user_first",
        bool,
        "Reject a conversation whose first message after the system prompt is the assistant's "
        "(starts-with-assistant) instead of only counting it.",
        CHAT,
        flags=("--require-user-first",),
    ),
    BuildOption(
        "chat_template",
        str,
        "Chat template overriding the tokenizer's own: a Jinja file, or a shipped template's name "
        "(sftmask template list).",
        CHAT,
        "FILE_OR_NAME",
        "the tokenizer's",
        choices=CHAT_TEMPLATES,
    ),
    BuildOption(
        "reasoning",
        str,
        "An assistant turn's reasoning (<think>...</think> or reasoning_content): train it, mask it "
        "(kept, labels -100) or drop it (removed before rendering).",
        CHAT,
        _choice_metavar(REASONING),
        "train",
        choices=REASONING,
    ),
    BuildOption(
        "template_kwargs",
        str,
        "Template variables as apply_chat_template(**kwargs) passes them, e.g. enable_thinking=false "
        "(values are JSON, else strings).",
        CHAT,
        "NAME=VALUE,...",
    ),
    BuildOption(
        "template_date",
        str,
        "The date a template's strftime_now sees, YYYY-MM-DD (recorded in the manifest).",
        CHAT,
        "DATE",
        "today",
    ),
    # Words data
    BuildOption("tokens_field", str, "Field with the list of words.", WORDS, "FIELD", "tokens"),
    BuildOption(
        "tags_field", str, "Field with the parallel list of tags (ints or strings).", WORDS, "FIELD", "ner_tags"
    ),
    BuildOption(
        "label_names",
        str,
        "Label names in id order: a file with one per line, or B-PER,I-PER,...",
        WORDS,
        "FILE_OR_LIST",
    ),
    BuildOption(
        "label_all_subtokens",
        bool,
        "Label continuation sub-tokens too (B-X becomes I-X).",
        WORDS,
        flags=("--label-all-subtokens",),
    ),
    # Text data
    BuildOption("text_field", str, "Field with the pre-formatted text.", TEXT, "FIELD", "text"),
    BuildOption(
        "response_marker",
        str,
        "Train only what follows this marker's first occurrence (e.g. '### Response:'); a record without it "
        "is rejected.",
        TEXT,
        "TEXT",
        "train every token",
    ),
    # Strategy
    BuildOption(
        "strategy",
        str,
        "Masking strategy: response-only, all, first-subtoken; for chat data assistant-only, last-turn.",
        STRATEGY,
        "NAME",
        "response-only",
        choices=STRATEGIES,
    ),
    BuildOption(
        "add_eos",
        bool,
        "Append the tokenizer's EOS to the response and train on it (a tokenizer without EOS needs --no-add-eos).",
        STRATEGY,
        default="add-eos",
        flags=("--add-eos/--no-add-eos",),
    ),
    # Length
    BuildOption("max_length", int, "Maximum tokens per row.", LENGTH, "N", "none"),
    BuildOption(
        "truncation",
        str,
        "A row longer than --max-length: prompt drops prompt tokens from the left (keeping BOS), "
        "response cuts the end, drop rejects it.",
        LENGTH,
        _choice_metavar(TRUNCATIONS),
        "prompt",
        choices=TRUNCATIONS,
    ),
    # Output
    BuildOption("output", str, "Output directory.", OUTPUT, "DIR", flags=("--output", "-o"), encoding=False),
    BuildOption(
        "format",
        str,
        "Shard format: parquet, or arrow (the Dataset.save_to_disk layout).",
        OUTPUT,
        _choice_metavar(OUTPUT_FORMATS),
        "parquet",
        choices=OUTPUT_FORMATS,
        encoding=False,
    ),
    BuildOption("rows_per_shard", int, "Rows per output shard.", OUTPUT, "N", "100000", encoding=False),
    BuildOption(
        "pack_length",
        int,
        "Pack examples into rows of at most N tokens for padding-free training (position_ids, seq_lengths).",
        OUTPUT,
        "N",
        "no packing",
    ),
    BuildOption(
        "pack_strategy",
        str,
        "bfd: best-fit-decreasing, attention per example; wrapped: concatenate and cut (--strategy all only).",
        OUTPUT,
        "[bfd|wrapped]",
        "bfd",
        choices=PACK_STRATEGIES,
    ),
    BuildOption(
        "pack_window",
        int,
        "bfd: rows packed together (more: fuller rows, more memory).",
        OUTPUT,
        "N",
        "1000",
    ),
    BuildOption(
        "assistant_masks",
        bool,
        "Write assistant_masks (1 where labels != -100) beside labels, for trainers that rebuild labels "
        "(TRL before 1.16 with packing); never for words data or packed rows.",
        OUTPUT,
        default="assistant-masks",
        flags=("--assistant-masks/--no-assistant-masks",),
    ),
    BuildOption(
        "keep_columns",
        str,
        "Comma-separated input fields to pass through, e.g. id,source.",
        OUTPUT,
        "NAMES",
        encoding=False,
    ),
    BuildOption(
        "overwrite",
        bool,
        "Replace a previous sftmask output (never another non-empty directory).",
        OUTPUT,
        flags=("--overwrite",),
        encoding=False,
    ),
    # Performance
    BuildOption(
        "max_chars",
        int,
        "Reject a record (too-long) holding more characters than this, before tokenizing it.",
        LENGTH,
        "N",
        "10000000",
    ),
    BuildOption(
        "max_reject_rate",
        float,
        "With --on-error skip: fail (exit 3, nothing written) when more than this share of records is "
        "rejected, e.g. 0.01 (a build writing no row always fails).",
        INPUT,
        "R",
        "off",
        encoding=False,
    ),
    BuildOption("batch_size", int, "Records per tokenization batch.", PERFORMANCE, "N", "1000", encoding=False),
    BuildOption(
        "num_proc",
        int,
        "Worker processes for tokenization; the output is identical for any value "
        "(1: the Rust tokenizer already uses all cores).",
        PERFORMANCE,
        "N",
        "1",
        encoding=False,
    ),
    BuildOption(
        "engine",
        str,
        'local: this machine; ray: Ray Data actors on a local Ray or a cluster (pip install "sftmask[ray]"). '
        "Same output.",
        PERFORMANCE,
        "[local|ray]",
        "local",
        choices=ENGINES,
        encoding=False,
    ),
    BuildOption(
        "ray_address",
        str,
        "--engine ray: cluster to join (auto: the running one).",
        PERFORMANCE,
        "ADDRESS",
        "start a local Ray with this machine's CPUs",
        encoding=False,
    ),
    BuildOption(
        "ray_workers",
        int,
        "--engine ray: labelling actors.",
        PERFORMANCE,
        "N",
        "as many as the CPUs hold at --ray-cpus-per-worker",
        encoding=False,
    ),
    BuildOption(
        "ray_cpus_per_worker",
        float,
        "--engine ray: CPUs each labelling actor reserves.",
        PERFORMANCE,
        "N",
        "2",
        encoding=False,
    ),
    BuildOption(
        "ray_read",
        str,
        "--engine ray: read the files in the driver, or in Ray read tasks on the workers (one per file; "
        "every node must reach them). auto: workers for several remote (s3://...) files without --keep-columns.",
        PERFORMANCE,
        "[auto|driver|workers]",
        "auto",
        choices=("auto", "driver", "workers"),
        encoding=False,
    ),
)

CONFIG_ONLY = ("inputs",)
"""Config keys without a flag: `inputs` are the INPUT arguments."""

ENCODING_OPTIONS = tuple(option for option in BUILD_OPTIONS if option.encoding)
"""The options that change what rows are built: `inspect` takes these."""

TEMPLATE_CHECK_OPTIONS = tuple(
    option
    for option in BUILD_OPTIONS
    if (option.panel == CHAT and option.key != "chat_template") or option.key in ("tokenizer", "trust_remote_code")
)
"""What `sftmask template check` takes: the tokenizer and the chat data options (the template is its argument)."""

CONFIG_FILE = typer.Option(
    "--config",
    "-c",
    metavar="FILE",
    help="YAML or TOML file with the same keys as these options (max-length or max_length); flags win.",
    rich_help_panel=INPUT,
    show_default=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def build_options(options: Sequence[BuildOption]) -> Callable[[F], F]:
    """Give a command function these options as parameters; it receives them as `options`, a dict.

    The decorated function declares its own parameters and a keyword `options: dict[str, Any]`;
    Typer sees its own parameters followed by one per option. `options` maps each config key to
    its value, None when the flag was not given (so a config file or the default applies).
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)
        own = [p for name, p in signature.parameters.items() if name != "options"]
        keys = [option.key for option in options]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {key: kwargs.pop(key) for key in keys}
            return func(*args, options=given, **kwargs)

        parameters = [*own, *(option.parameter() for option in options)]
        command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return command  # type: ignore[return-value]

    return decorate


def option_names(options: dict[str, Any]) -> list[str]:
    """The flags of the options that were given (for messages)."""
    by_key = {option.key: option for option in BUILD_OPTIONS}
    return [by_key[key].names[0].split("/")[0] for key, value in options.items() if value is not None]


def _without_python_types(params: list[Any]) -> list[Any]:
    # Typer shows each parameter's Python type (`<bool>`, `<list[str]>`) beside its metavar; a flag
    # takes no value and an argument's metavar already says what it is, so show neither.
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif param.param_type_name == "argument" and param.metavar is not None:
            param.display_type_rich = lambda ctx: None
    return params


class Command(TyperCommand):
    """A command whose help shows metavars, not Python types."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_python_types(super().get_params(ctx))


class Group(TyperGroup):
    """The app's command group, likewise."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_python_types(super().get_params(ctx))
