"""The build options every data kind shares; each kind adds its own (`sftmask.kinds`).

`sftmask.config.build.BuildConfig` is these options plus every kind's options model, so the same flat
keys work as CLI flags and in a config file.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

InputFormat = Literal["jsonl", "json", "csv", "tsv", "parquet", "arrow"]
Truncation = Literal["prompt", "response", "drop"]
OutputFormat = Literal["parquet", "arrow"]
OnError = Literal["fail", "skip"]
Reasoning = Literal["train", "mask", "drop"]

MAX_INT32 = 2**31 - 1
"""Largest count sftmask accepts for lengths and sizes (token offsets are 32-bit)."""


class Options(BaseModel):
    """Base of every options model: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class CommonOptions(Options):
    """Options of every build, whatever the kind of record."""

    inputs: list[str] = Field(min_length=1)
    """Input files or globs, read in the order given: JSONL, JSON arrays, CSV, TSV (optionally
    .gz/.zst), Parquet, Arrow, or folders written by `Dataset(Dict).save_to_disk`; `-` reads JSONL
    from stdin."""
    tokenizer: str
    """Hugging Face Hub name or local folder, loaded with `AutoTokenizer.from_pretrained`."""
    output: str
    """Output directory (created; refused if it exists and is not empty, unless `overwrite`)."""
    input_format: InputFormat | None = None
    """Overrides the format guessed from each input's suffix (`json`: one JSON array of records)."""
    delimiter: str | None = None
    """CSV/TSV inputs: the character between fields (`tab` or `\\t` for a tab); by default `,` (tab
    for .tsv), or `;` or a tab when a .csv file's header holds no comma but one of them."""
    strategy: str = "response-only"
    """Masking strategy; see `sftmask.labels.strategies.STRATEGIES`."""
    max_length: int | None = Field(default=None, gt=0, le=MAX_INT32)
    """Maximum tokens per row; longer rows are truncated as `truncation` says."""
    truncation: Truncation = "prompt"
    """`prompt`: drop prompt tokens from the left (keeping leading specials such as BOS), then
    cut the response end; `response`: cut the row's end; `drop`: reject the record."""
    add_eos: bool = True
    """Append the tokenizer's EOS after the response and train on it."""
    format: OutputFormat = "parquet"
    """`parquet` shards, or `arrow` as written by `Dataset.save_to_disk`."""
    rows_per_shard: int = Field(default=100_000, gt=0, le=MAX_INT32)
    """Rows per output shard."""
    assistant_masks: bool = True
    """Write `assistant_masks` (`list<int8>`, 1 where `labels != -100`) beside `labels`, for the
    language-modelling data kinds (not words data) when not packing: trainers that rebuild labels
    (TRL before 1.16 with packing) keep the masking from it."""
    keep_columns: list[str] = Field(default_factory=list)
    """Original record fields passed through to the output (lists and objects stay Arrow lists and
    structs)."""
    on_error: OnError = "fail"
    """`fail` stops at the first bad record; `skip` writes it to rejects.jsonl and goes on."""
    max_chars: int | None = Field(default=10_000_000, gt=0)
    """A record whose text fields hold more characters is rejected (`too-long`) before it is
    tokenized: a tokenizer allocates many times a text's size (a 200 MB response needs
    gigabytes), whatever `max_length` then keeps. `None` (config file: `null`) for no limit."""
    max_reject_rate: float | None = Field(default=None, ge=0, le=1)
    """With `skip`: fail the build (exit 3, nothing written) when more than this share of the
    records is rejected, e.g. 0.01. A build that writes no row fails whatever this is."""
    overwrite: bool = False
    """Replace an existing non-empty output directory."""
    trust_remote_code: bool = False
    """Allow a tokenizer whose code lives in its Hub repository."""
    batch_size: int = Field(default=1000, gt=0, le=MAX_INT32)
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
    machine, `num_proc` processes) or `ray` (Ray Data actors; `pip install "sftmask[ray]"`)."""
    ray_address: str | None = None
    """`engine: ray`: the Ray cluster to join (`auto`: the running one, or `ray://host:10001`);
    by default a local Ray is started with this machine's CPUs."""
    ray_workers: int | None = Field(default=None, ge=1)
    """`engine: ray`: labelling actors (each loads the tokenizer once); by default as many as
    the cluster's CPUs hold at `ray_cpus_per_worker` each."""
    ray_cpus_per_worker: float = Field(default=2.0, gt=0)
    """`engine: ray`: CPUs each labelling actor reserves (and Rust tokenizer threads it runs)."""
    ray_read: Literal["auto", "driver", "workers"] = "auto"
    """`engine: ray`: where the input files are read. `driver`: in the `sftmask build` process,
    which feeds the actors; `workers`: one Ray read task per file, anywhere in the cluster (every
    node must reach the files: a shared filesystem or `s3://` URLs); `auto`: `workers` when there
    are several files, all of them remote URLs, and no `keep_columns` (whose one type over all
    files needs one reader), else `driver`. The output is the same either way."""
    data_kind: str | None = None
    """Kind of input record (see `sftmask.kinds.DATA_KINDS`); by default the first kind that
    provides what the strategy needs, or `words` when a words option (`tokens_field`,
    `tags_field`, `label_names`, `label_all_subtokens`) is given with a strategy that applies to words,
    or `text` when a text option (`text_field`, `response_marker`) is given."""
    chat_template: str | None = None
    """Chat template overriding the tokenizer's own: a Jinja file, or the name of a template
    shipped with sftmask (`sftmask template list`)."""
    reasoning: Reasoning = "train"
    """Chat template: an assistant turn's reasoning (`<think>...</think>` in its content, or a
    `reasoning_content` field) as the template writes it: `train` it with the turn, `mask` it
    (kept in input_ids, labels -100), or `drop` it from the messages before rendering."""
    template_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Chat template: extra template variables, as `apply_chat_template(**kwargs)` passes them
    (`enable_thinking=false,...` on the command line: values are JSON, else strings)."""
    template_date: datetime.date | None = None
    """Chat template: the date a template's `strftime_now` sees (default: today, local time, as
    transformers); the manifest records the date used, so a build can be repeated byte for byte."""

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
