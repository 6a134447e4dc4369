"""The build options every data kind shares; each kind adds its own (`sftmask.config.options`).

Each option is one field: its type, default and docstring, and a `Flag` saying how the command
line spells it. `sftmask.cli.options` derives every flag of `sftmask build` from these fields (the
help is the first paragraph of the docstring; the rest is for the reader of the code and the
docs), so the same flat keys work as CLI flags and in a config file.
"""

# No `from __future__ import annotations`: pydantic would compile every field's annotation from
# its string, a few milliseconds of every command's start (the command line reads these models).
import ast
import contextlib
import datetime
import functools
import inspect
import itertools
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sftmask import usercache

InputFormat = Literal["jsonl", "json", "csv", "tsv", "parquet", "arrow"]
Truncation = Literal["prompt", "response", "drop"]
OutputFormat = Literal["parquet", "arrow"]
OnError = Literal["fail", "skip"]
Reasoning = Literal["train", "mask", "drop"]

MAX_INT32 = 2**31 - 1
"""Largest count sftmask accepts for lengths and sizes (token offsets are 32-bit)."""

# Help panels of the options every kind shares (each kind names its own panel in config/options.py).
INPUT = "Input"
DATA_KIND = "Data kind"
STRATEGY = "Strategy"
LENGTH = "Length"
OUTPUT = "Output"
PERFORMANCE = "Performance"
CHAT_DATA = "Chat data"
"""The chat data panel also lists the chat template options prompt/response data shares (`template: chat`)."""


@dataclass(frozen=True)
class Flag:
    """How the command line spells a build option: `Annotated[type, Flag(...)]` on its field.

    The flag is ``--`` and the field's name with dashes (``--x/--no-x`` for a bool that defaults
    to True), its value is parsed as the field's type (bool, int, float, else a string the config
    validates), its help is the first paragraph of the field's docstring and its default the
    field's. Everything here is only what those cannot say.
    """

    panel: str
    """The `--help` panel it is listed in (`sftmask.config.options.PANELS`)."""
    metavar: str = ""
    """What the value is (``FIELD``, ``FILE``); by default ``[a|b]`` for a Literal, ``N`` for a number,
    ``TEXT`` for a string, nothing for a switch."""
    short: str = ""
    """A short flag (``-t``)."""
    default: str = ""
    """The default as `--help` states it, when the field's own (None) says nothing (``from the suffix``)."""
    choices: tuple[str, ...] = ()
    """What shell completion offers besides a Literal's values: values, or ``module:NAME`` of a
    registry (its keys) or of a function returning names, looked up only when completing."""
    changes_rows: bool = True
    """False for an option that changes how, where or whether rows are written but never which
    rows (`--output`, `--num-proc`): `inspect` takes only the options that change rows."""


@dataclass(frozen=True)
class Argument:
    """The field is the command's positional arguments (`inputs`: ``INPUT...``), not a flag."""

    metavar: str


class Options(BaseModel):
    """Base of every options model: unknown keys are errors, values never change after loading.

    Each field's docstring is its description (what `use_attribute_docstrings` does, read from one
    parse of the module instead of pydantic's per class: the command line reads these models on
    every start). `defer_build`: the validators are built when a config is first validated.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        docs = attribute_docstrings(cls)
        for name, field in cls.model_fields.items():
            if field.description is None and name in docs:
                field.description = docs[name]


def attribute_docstrings(cls: type) -> dict[str, str]:
    """The docstring below each annotated attribute of `cls`'s own body, by attribute name."""
    path = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return _module_docstrings(path).get(cls.__qualname__, {}) if path else {}


DOCSTRINGS_VERSION = 1
"""Part of the key of the docstrings kept in the user's cache: bump when what is read changes."""


@functools.cache
def _module_docstrings(path: str) -> dict[str, dict[str, str]]:
    """`_docstrings` of every class of the source file, by qualified name. Parsing the four
    config modules takes ~13 ms of every command's start, so what they give is kept in the user's
    cache (`sftmask.usercache`) under the file's path, size and modification time, as Python keeps
    a module's bytecode."""
    try:
        stat = os.stat(path)
    except OSError:
        return {}
    entry = usercache.entry(
        "docstrings", DOCSTRINGS_VERSION, sys.version_info[:2], path, stat.st_size, stat.st_mtime_ns
    )
    kept = usercache.read(entry)
    if kept is not None:
        with contextlib.suppress(ValueError):
            found = json.loads(kept)
            if isinstance(found, dict):
                return found
    found = {name: _docstrings(node) for name, node in _classes(path).items()}
    usercache.write(entry, json.dumps(found))
    return found


def _docstrings(node: ast.ClassDef) -> dict[str, str]:
    docs = {}
    for statement, following in itertools.pairwise(node.body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs


@functools.cache
def _classes(path: str) -> dict[str, ast.ClassDef]:
    """The class definitions of a source file by qualified name (`f.<locals>.C` inside functions)."""
    found: dict[str, ast.ClassDef] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        # Classes are statements: walk the statement lists only, not every expression (10x faster).
        for child in _statements(node):
            if isinstance(child, ast.ClassDef):
                found.setdefault(prefix + child.name, child)
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, f"{prefix}{child.name}.<locals>.")
            else:
                visit(child, prefix)

    try:
        visit(ast.parse(Path(path).read_bytes()), "")
    except (OSError, SyntaxError):
        return {}
    return found


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")
"""The fields of a statement that hold statements (`handlers` and `cases` hold their own blocks)."""


def _statements(node: ast.AST) -> Iterator[ast.AST]:
    """The statements directly inside `node` (a module, class, function, if, with, try, match...)."""
    for block in _BLOCKS:
        yield from getattr(node, block, ())


ENGINE_NAMES = ("local", "ray")
"""The engines `--engine` names: the keys of `sftmask.engines.ENGINES` (which imports the
labelling code, so the config names them here instead of importing the registry)."""


class CommonOptions(Options):
    """Options of every build, whatever the kind of record."""

    inputs: Annotated[list[str], Argument("INPUT")] = Field(min_length=1)
    """Input files or globs, read in the order given (.jsonl/.json/.csv/.tsv, optionally .gz/.zst;
    .parquet/.arrow), or folders written by Dataset(Dict).save_to_disk; '-' reads JSONL from stdin."""
    tokenizer: Annotated[str, Flag(INPUT, "NAME_OR_PATH", short="-t")]
    """Hugging Face Hub name or local folder of a fast tokenizer (AutoTokenizer).

    Loaded with `AutoTokenizer.from_pretrained` (a plain `tokenizer.json` folder without it)."""
    output: Annotated[str, Flag(OUTPUT, "DIR", short="-o", changes_rows=False)]
    """Output directory.

    Created; refused if it exists and is not empty, unless `overwrite`."""
    input_format: Annotated[InputFormat | None, Flag(INPUT, "FORMAT", default="from the suffix")] = None
    """Format of every input, overriding the file suffix: jsonl, json (one array of records), csv,
    tsv, parquet or arrow."""
    delimiter: Annotated[str | None, Flag(INPUT, "CHAR", default=", (tab for .tsv)")] = None
    """CSV/TSV: the character between fields (tab or \\t for a tab); a .csv header without a comma
    is split at ; or tab when it holds one.

    By default `,` (a tab for .tsv). A .csv file whose header holds no comma but a `;` or a tab is
    split at it, with a warning saying so."""
    strategy: Annotated[str, Flag(STRATEGY, "NAME", choices=("sftmask.labels.strategies:STRATEGIES",))] = (
        "response-only"
    )
    """Masking strategy: response-only, all, first-subtoken; for chat data assistant-only, last-turn.

    See `sftmask.labels.strategies.STRATEGIES`. With --data-kind chat or words and no strategy
    given: assistant-only or first-subtoken (the kind's `default_strategy`), as for records
    detected as chat data."""
    max_length: Annotated[int | None, Flag(LENGTH, default="none")] = Field(default=None, gt=0, le=MAX_INT32)
    """Maximum tokens per row.

    Longer rows are truncated as `truncation` says."""
    truncation: Annotated[Truncation, Flag(LENGTH)] = "prompt"
    """A row longer than --max-length: prompt drops prompt tokens from the left (keeping BOS),
    response cuts the end, drop rejects it.

    `prompt` keeps leading specials such as BOS, then cuts the response end if the prompt alone
    is too long."""
    add_eos: Annotated[bool, Flag(STRATEGY)] = True
    """Append the tokenizer's EOS to the response and train on it (a tokenizer without EOS needs
    --no-add-eos)."""
    format: Annotated[OutputFormat, Flag(OUTPUT, changes_rows=False)] = "parquet"
    """Shard format: parquet, or arrow (the Dataset.save_to_disk layout)."""
    rows_per_shard: Annotated[int, Flag(OUTPUT, changes_rows=False)] = Field(default=100_000, gt=0, le=MAX_INT32)
    """Rows per output shard."""
    assistant_masks: Annotated[bool, Flag(OUTPUT)] = True
    """Write assistant_masks (1 where labels != -100) beside labels, for trainers that rebuild
    labels (TRL before 1.16 with packing); never for words data or packed rows.

    The column is `list<int8>`; only the language-modelling data kinds (not words data) write it,
    and not when packing."""
    keep_columns: Annotated[list[str], Flag(OUTPUT, "NAMES", changes_rows=False)] = Field(default_factory=list)
    """Comma-separated input fields to pass through, e.g. id,source.

    Lists and objects stay Arrow lists and structs."""
    on_error: Annotated[OnError, Flag(INPUT)] = "fail"
    """A bad record: fail stops the build; skip writes it to rejects.jsonl and goes on."""
    max_chars: Annotated[int | None, Flag(LENGTH)] = Field(default=10_000_000, gt=0)
    """Reject a record (too-long) holding more characters than this, before tokenizing it.

    A tokenizer allocates many times a text's size (a 200 MB response needs gigabytes), whatever
    `max_length` then keeps. A JSON line longer than 12 bytes a character (plus 64 KiB) is
    rejected unparsed. `None` (config file: `null`) for no limit; without `max_length`, a record
    too big to tokenize whole in half the memory is rejected all the same (`limits.memory_budget`)."""
    max_reject_rate: Annotated[float | None, Flag(INPUT, "R", default="off", changes_rows=False)] = Field(
        default=None, ge=0, le=1
    )
    """With --on-error skip: fail (exit 3, nothing written) when more than this share of records is
    rejected, e.g. 0.01 (a build writing no row always fails)."""
    overwrite: Annotated[bool, Flag(OUTPUT, changes_rows=False)] = False
    """Replace a previous sftmask output (never another non-empty directory)."""
    trust_remote_code: Annotated[bool, Flag(INPUT)] = False
    """Allow tokenizer code from the Hub repository."""
    batch_size: Annotated[int, Flag(PERFORMANCE, changes_rows=False)] = Field(default=1000, gt=0, le=MAX_INT32)
    """Records per tokenization batch.

    Memory grows with it; speed barely changes above ~500."""
    split: Annotated[str, Flag(INPUT, "NAME")] = "train"
    """Split read from a DatasetDict.save_to_disk folder; also names the shards
    (train-00000-of-00001.parquet).

    With held-out splits or a recipe the shards are named by their own split
    (`data/validation-...`); `sftmask inspect DIR --split NAME` shows one split of a build."""
    num_proc: Annotated[int, Flag(PERFORMANCE, changes_rows=False)] = Field(default=1, ge=1)
    """Worker processes for tokenization; the output is identical for any value (1: the Rust
    tokenizer already uses all cores).

    More processes help when many cores leave one Python process as the bottleneck."""
    engine: Annotated[str, Flag(PERFORMANCE, "[local|ray]", choices=ENGINE_NAMES, changes_rows=False)] = "local"
    """local: this machine; ray: Ray tasks on a local Ray or a cluster (pip install
    "sftmask[ray]"). Same output.

    See `sftmask.engines.ENGINES`; `local` runs `num_proc` processes."""
    ray_address: Annotated[
        str | None,
        Flag(PERFORMANCE, "ADDRESS", default="start a local Ray with this machine's CPUs", changes_rows=False),
    ] = None
    """--engine ray: cluster to join (auto: the running one).

    Or `ray://host:10001`."""
    ray_workers: Annotated[
        int | None,
        Flag(PERFORMANCE, default="as many as the CPUs hold at --ray-cpus-per-worker", changes_rows=False),
    ] = Field(default=None, ge=1)
    """--engine ray: labelling tasks at a time.

    Each Ray worker process loads the tokenizer once."""
    ray_cpus_per_worker: Annotated[float, Flag(PERFORMANCE, changes_rows=False)] = Field(default=2.0, gt=0)
    """--engine ray: CPUs each labelling task reserves.

    Also the Rust tokenizer threads it runs."""
    ray_read: Annotated[Literal["auto", "driver", "workers"], Flag(PERFORMANCE, changes_rows=False)] = "auto"
    """--engine ray: read the files in the driver, or in the Ray tasks on the workers (big files
    in parts; every node must reach them). auto: workers for several parts that every node
    reaches, without --keep-columns.

    `driver`: in the `sftmask build` process, which feeds the labelling tasks; `workers`: one Ray
    task per part of the inputs, anywhere in the cluster, reading and labelling it (every node
    must reach the files: a shared filesystem or `s3://` URLs). A part is a file, or of an
    uncompressed JSON lines file a byte range of about 8 batches of records (cut at line
    boundaries; 64 KiB to 64 MiB), of a Parquet file a run of row groups of about 8 batches;
    `auto`: `workers` when there are several parts, no `keep_columns` (whose one type over all
    files needs one reader), and every file is a remote URL or a local path that each node of the
    cluster sees with the same size (asked of every node by a zero-CPU task, 30 s at most), else
    `driver`. The output is the same either way."""
    ray_write: Annotated[Literal["driver", "workers"], Flag(PERFORMANCE, changes_rows=False)] = "driver"
    """--engine ray: write the shards in the driver, or where each batch is labelled (every node
    must reach --output: a shared filesystem). Same rows, same order.

    `workers`: each labelling task writes the rows of the batch it labels as one shard, straight
    into the output's temporary folder, and sends the driver only counts, rejects and the shard's
    name, rows and SHA-256; the driver renames the shards to `{split}-NNNNN-of-NNNNN` in input
    order and writes rejects.jsonl and the manifest last. A shard then holds one batch's rows
    (--batch-size records less their rejects) instead of --rows-per-shard rows. With
    --pack-length each task packs the rows it labels (a part's; reading in the driver, its batch's),
    so no packed row holds examples of two parts. Not with --keep-columns or a remote --output."""
    data_kind: Annotated[
        str | None,
        Flag(
            DATA_KIND,
            "KIND",
            default="the strategy's first; words or text when one of its options is given",
            choices=("sftmask.kinds:DATA_KINDS",),
        ),
    ] = None
    """Kind of record: prompt-response, chat, words (word-labelled NER/POS data) or text
    (pre-formatted text).

    See `sftmask.kinds.DATA_KINDS`. By default the first kind that provides what the strategy
    needs, or `words` when a words option (`tokens_field`, `tags_field`, `label_names`,
    `label_all_subtokens`) is given with a strategy that applies to words, or `text` when a text
    option (`text_field`, `response_marker`) is given."""
    chat_template: Annotated[
        str | None,
        Flag(CHAT_DATA, "FILE_OR_NAME", default="the tokenizer's", choices=("sftmask.chat.templates:SHIPPED",)),
    ] = None
    """Chat template overriding the tokenizer's own: a Jinja file, or a shipped template's name
    (sftmask template list)."""
    reasoning: Annotated[Reasoning, Flag(CHAT_DATA)] = "train"
    """An assistant turn's reasoning (<think>...</think> or reasoning_content): train it, mask it
    (kept, labels -100) or drop it (removed before rendering).

    The reasoning is `<think>...</think>` in the turn's content or a `reasoning_content` field, as
    the template writes it; `mask` keeps it in input_ids with labels -100; `drop` removes it from
    the messages before rendering."""
    template_kwargs: Annotated[dict[str, Any], Flag(CHAT_DATA, "NAME=VALUE,...")] = Field(default_factory=dict)
    """Template variables as apply_chat_template(**kwargs) passes them, e.g. enable_thinking=false
    (values are JSON, else strings)."""
    template_date: Annotated[datetime.date | None, Flag(CHAT_DATA, "DATE", default="today")] = None
    """The date a template's strftime_now sees, YYYY-MM-DD (recorded in the manifest).

    By default today, local time, as transformers; the manifest records the date used, so a build
    can be repeated byte for byte."""

    @field_validator("delimiter", mode="before")
    @classmethod
    def _one_character(cls, value: Any) -> Any:
        if value in ("tab", "\\t"):
            return "\t"
        if isinstance(value, str) and (len(value) != 1 or value in '\r\n"'):
            raise ValueError(f"{value!r} is not one character other than a quote or newline (e.g. ';', or tab)")
        return value

    @field_validator("template_kwargs", mode="before")
    @classmethod
    def _parse_kwargs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_template_kwargs(value)
        return value


def parse_template_kwargs(text: str) -> dict[str, Any]:
    """``enable_thinking=false,date_string=26 Jul 2024`` -> {"enable_thinking": False, ...}.

    Each value is read as JSON (true, false, null, numbers, quoted strings, lists) and is a
    plain string otherwise.

    >>> parse_template_kwargs("enable_thinking=false,n=3,date_string=26 Jul 2024")
    {'enable_thinking': False, 'n': 3, 'date_string': '26 Jul 2024'}
    """
    result: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, raw = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ValueError(f"template-kwargs: {item!r} is not NAME=VALUE (e.g. enable_thinking=false)")
        try:
            result[name.strip()] = json.loads(raw.strip())
        except json.JSONDecodeError:
            result[name.strip()] = raw.strip()
    return result
