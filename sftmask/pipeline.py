"""The one place that wires read -> tokenize -> mask -> write for `sftmask build`."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, overload

import pyarrow as pa

from sftmask import __version__, limits
from sftmask.config.build import BuildConfig, make_config, with_format
from sftmask.engines import ENGINES
from sftmask.errors import ConfigError, InputDataError, OutputError, TokenizerError
from sftmask.io import remote
from sftmask.io.background import BackgroundWriter
from sftmask.io.formats import DataFormat, detect
from sftmask.io.readers import STDIN, InputFile, RecordReader, resolve_inputs, sample_records
from sftmask.io.writer import OutputDir, RejectWriter, RemoteOutputDir, ShardWriter, open_output_dir, write_manifest
from sftmask.kinds import EncodingSession
from sftmask.kinds.base import Scan, scan_here
from sftmask.labels.batch import REJECT_SCHEMA, Counts, Job, Labelled, label_read_batch, rejects_table
from sftmask.labels.strategies import STRATEGIES
from sftmask.packing.packer import Packer, packed_schema
from sftmask.tokenization.load import LoadedTokenizer, describe, load_tokenizer, model_max_length

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    records: int
    tokens: int
    bytes_read: int
    total_bytes: int | None


@dataclass(frozen=True)
class BuildResult:
    output: str
    stats: Counts
    shards: list[dict[str, Any]]
    manifest: dict[str, Any]


def build(
    config: BuildConfig | None = None, on_progress: Callable[[Progress], None] | None = None, **options: Any
) -> BuildResult:
    """Run a build: read the inputs, tokenize and mask in batches, write shards and manifest.

    Args:
        config: the build config (`load_config`); or give its options as keywords instead.
        on_progress: called after each batch with the records, tokens and bytes read so far.
        options: `sftmask build` options with underscores (`inputs`, `tokenizer`, `output`, ...).

    Raises:
        ConfigError: the keyword options are unknown or invalid.
        SftmaskError: bad input (with `on_error=fail`), tokenizer or output problems; the output
            directory is then left untouched.

    >>> import sftmask, tempfile
    >>> out = tempfile.mkdtemp()
    >>> result = sftmask.build(
    ...     inputs=["sample_data/instructions.jsonl"], tokenizer="sample_data/tokenizer", output=out, overwrite=True
    ... )
    >>> result.stats.rows_written == result.manifest["counts"]["rows_written"] > 0
    True
    >>> sftmask.validate(sftmask.open_output(out)).ok
    True
    """
    if config is None:
        config = make_config(options)
    elif options:
        raise TypeError("build() takes a config or keyword options, not both")
    files = resolve_inputs(config.inputs, config.input_format, config.split)
    config, data_format = detect_format(config, files)
    # The output is locked (and checked) first, for the whole build: see `OutputDir` (a remote
    # output is checked now and uploaded at the end: `RemoteOutputDir`).
    with open_output_dir(config.output, overwrite=config.overwrite, keep=_paths_read(config, files)) as output:
        tok = open_tokenizer(config)
        # Started once for both passes: a Ray session serves the label-set pass and the labelling.
        with ENGINES[config.engine](config) as engine:
            session = open_session(config, tok, files, engine.scan)
            reader = make_reader(config, files, data_format=data_format)
            stats = Counts()
            file_names = [f.name for f in files]
            job = Job(config, session, tuple(files), shard_dir=_shard_dir(config, output))
            shard_writer = ShardWriter(
                output.tmp, fmt=config.format, split=config.split, rows_per_shard=config.rows_per_shard
            )
            reject_writer = RejectWriter(output.tmp)
            writer = BackgroundWriter()
            packer = _packer(config)  # in this process, on the ordered rows: the same packs for any num_proc
            first_reject: dict[str, Any] | None = None
            try:
                for labelled in engine.run(reader, job):
                    stats.add(labelled.counts)
                    if first_reject is None and labelled.rejects.num_rows:
                        first_reject = labelled.rejects.slice(0, 1).to_pylist()[0]  # rejects are in input order
                    if packer is not None:
                        labelled = replace(labelled, rows=packer.push(labelled.rows))
                    writer.submit(_write, labelled, shard_writer, reject_writer, output.path)
                    if on_progress is not None:
                        on_progress(Progress(stats.records_read, stats.tokens, labelled.bytes_read, reader.total_bytes))
                if packer is not None:
                    last = Labelled(packer.finish(), REJECT_SCHEMA.empty_table(), Counts())
                    writer.submit(_write, last, shard_writer, reject_writer, output.path)
                    stats.trained_tokens = packer.counts.trained_tokens  # first labels masked; rows_written: examples
                writer.close()
            except BaseException:
                writer.abort()  # the first error is the one to report, not a write it interrupted
                raise
            finally:
                with _output_errors(output.path):
                    reject_writer.close()
        if stats.records_read == 0:  # summed over batches: an engine may read the files itself
            raise InputDataError(f"no records found in {', '.join(file_names)}")
        _check_reject_rate(config, stats, first_reject)
        _warn_longer_than_the_model(stats, tok)
        with _output_errors(output.path):
            shards = shard_writer.close(_output_schema(config, reader))
            extra = session.manifest(stats.encoder_counts) | ({"packing": packer.manifest()} if packer else {})
            manifest = _manifest(config, tok, stats, shards, extra | _input_manifest(data_format))
            write_manifest(output.tmp, manifest)
            output.commit()
    return BuildResult(str(output.path), stats, shards, manifest)


RECORDS = "records"
"""The input name of in-memory records in `label`'s errors."""


@overload
def label(
    records: Iterable[Mapping[str, Any]],
    tokenizer: str | LoadedTokenizer,
    *,
    with_rejects: Literal[False] = False,
    **options: Any,
) -> pa.Table: ...


@overload
def label(
    records: Iterable[Mapping[str, Any]],
    tokenizer: str | LoadedTokenizer,
    *,
    with_rejects: Literal[True],
    **options: Any,
) -> tuple[pa.Table, pa.Table]: ...


def label(
    records: Iterable[Mapping[str, Any]],
    tokenizer: str | LoadedTokenizer,
    *,
    with_rejects: bool = False,
    **options: Any,
) -> pa.Table | tuple[pa.Table, pa.Table]:
    """Tokenize and label in-memory records, exactly as `build` would write them.

    Args:
        records: dicts with the fields the data kind reads (`prompt`/`response`, `messages`, ...).
        tokenizer: a Hugging Face Hub name or local folder, or a tokenizer from `load_tokenizer`
            (load it once when labelling many times).
        with_rejects: also return the records that give no row (see Returns); without it they
            are logged as one warning, like the summary line of `sftmask build`.
        options: `build` options with underscores (`strategy`, `max_length`, `data_kind`, ...);
            `inputs` and `output` do not apply.

    Returns:
        An Arrow table with `input_ids`, `attention_mask` and `labels` (and `keep_columns`), one
        row per record that gives one, in order; with `with_rejects`, also a table of the records
        that give none: `index` (from 0), `reason` and `message`.

    Raises:
        ConfigError: an option is unknown or invalid.
        InputDataError: a record is malformed (``records[3]: ...``) and `on_error` is ``fail``.
        TokenizerError: the tokenizer cannot be loaded or cannot do what the options ask.

    >>> import sftmask
    >>> table = sftmask.label([{"prompt": "Hi", "response": " there"}], "sample_data/tokenizer")
    >>> table.column_names
    ['input_ids', 'attention_mask', 'labels', 'assistant_masks']
    >>> row = table.to_pylist()[0]
    >>> trained = [label != -100 for label in row["labels"]]  # the prompt's 2 tokens are masked
    >>> trained, row["labels"][2:] == row["input_ids"][2:]
    ([False, False, True, True], True)
    """
    if not isinstance(records, Sequence):
        records = list(records)
    name = tokenizer if isinstance(tokenizer, str) else tokenizer.name
    config = make_config({**options, "inputs": [RECORDS], "tokenizer": name, "output": "-"})
    sample = [(f"{RECORDS}[{i}]", r) for i, r in enumerate(records[:SAMPLED_RECORDS]) if isinstance(r, Mapping)]
    config, data_format = _read_as(config, detect(sample), RECORDS)
    if config.pack_length is not None:
        raise ConfigError(
            "pack_length applies to `sftmask build`; label() returns unpacked rows (see sftmask.packing.packer.Packer)"
        )
    tok = open_tokenizer(config, None if isinstance(tokenizer, str) else tokenizer)
    session = open_session(config, tok, [])
    reader = make_reader(config, [], data_format=data_format)
    job = Job(config, session, (InputFile(RECORDS, "records", None),))
    rows: list[pa.Table] = []
    rejects: list[pa.Table] = []
    stats = Counts()
    try:
        for batch in reader.read_records(records, RECORDS):
            labelled = label_read_batch(batch, job)
            rows.append(labelled.rows)
            rejects.append(labelled.rejects)
            stats.add(labelled.counts)
    except InputDataError as exc:
        if exc.file != RECORDS:
            raise
        raise InputDataError(f"{RECORDS}[{exc.line}]: {api_words(exc.detail)}") from None
    session.manifest(stats.encoder_counts)  # the data kind's warnings about the records (chat hygiene)
    _warn_longer_than_the_model(stats, tok)
    nonempty = [table for table in rows if table.num_rows]
    schema = _output_schema(config, reader)
    table = pa.concat_tables(nonempty, promote_options="default") if nonempty else schema.empty_table()
    rejected = pa.concat_tables(rejects) if rejects else rejects_table([])
    messages = pa.array([api_words(m) for m in rejected.column("message").to_pylist()], pa.string())
    rejected = pa.table({"index": rejected.column("line"), "reason": rejected.column("reason"), "message": messages})
    if with_rejects:
        return table, rejected
    if rejected.num_rows:
        by_reason = Counter(rejected.column("reason").to_pylist())
        log.warning(
            "%d of %d records give no row (%s); pass with_rejects=True to get them",
            rejected.num_rows,
            len(records),
            ", ".join(f"{reason}: {n}" for reason, n in sorted(by_reason.items())),
        )
    return table


def _check_reject_rate(config: BuildConfig, stats: Counts, first: dict[str, Any] | None) -> None:
    """Fail a build that wrote no row, or rejected more than `max_reject_rate` of its records.

    Raises:
        InputDataError: naming the reasons and the first rejected record.
    """
    rejected = sum(stats.rejected.values())
    limit = config.max_reject_rate
    if stats.rows_written and (limit is None or rejected <= limit * stats.records_read):
        return
    reasons = ", ".join(f"{reason}: {n:,}" for reason, n in stats.rejected.most_common())
    if stats.rows_written == 0:
        what = f"no row written: all {stats.records_read:,} records were rejected ({reasons})"
    else:
        what = (
            f"{rejected:,} of {stats.records_read:,} records rejected ({rejected / stats.records_read:.1%}; "
            f"{reasons}), more than --max-reject-rate {limit}"
        )
    where = ""
    if first is not None:
        at = f"{first['file']}:{first['line']}" if first["unit"] == "line" else f"{first['file']} row {first['line']}"
        where = f"; first: {at}: {first['message']}"
    raise InputDataError(f"{what}{where}; nothing was written")


_FLAG = re.compile(r"--(no-)?([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?: ([A-Za-z0-9][A-Za-z0-9_.-]*))?")


def api_words(message: str) -> str:
    """A message for a library call: each ``--flag VALUE`` it names as the keyword argument
    (``pass --response-field NAME`` -> ``pass response_field=NAME``, ``--on-error skip`` ->
    ``on_error="skip"``, ``--require-user-first`` -> ``require_user_first=True``).

    >>> api_words("longer than --max-length 8 with --truncation drop; raise --max-chars, or split it")
    'longer than max_length=8 with truncation="drop"; raise max_chars, or split it'
    """

    def argument(match: re.Match[str]) -> str:
        negated, flag, value = match.groups()
        key = flag.replace("-", "_")
        field = BuildConfig.model_fields.get(key)
        if field is None:
            return match.group(0)
        rest = f" {value}" if value else ""
        if bool in (field.annotation, *get_args(field.annotation)) or negated:
            return f"{key}={not negated}{rest}"
        if value is None:
            return key
        if re.fullmatch(r"[A-Z][A-Z_]*|\d+(?:\.\d+)?", value):
            return f"{key}={value}"
        if value in _choices(key):
            return f'{key}="{value}"'
        return f"{key}{rest}"

    return _FLAG.sub(argument, message)


def _choices(key: str) -> tuple[str, ...]:
    """The values option `key` takes, where they are a closed set."""
    from sftmask.kinds import DATA_KINDS
    from sftmask.prompts.templates import available_templates

    named = {
        "strategy": tuple(STRATEGIES),
        "data_kind": tuple(DATA_KINDS),
        "template": (*available_templates(), "chat"),
    }
    if key in named:
        return named[key]
    annotation = BuildConfig.model_fields[key].annotation
    args = (
        [a for a in get_args(annotation) if a is not type(None)]
        if get_origin(annotation) is not Literal
        else [annotation]
    )
    return tuple(str(v) for a in args if get_origin(a) is Literal for v in get_args(a))


def _warn_longer_than_the_model(stats: Counts, tok: LoadedTokenizer) -> None:
    """Warn when the longest row is longer than the tokenizer's `model_max_length` (a model sees
    positions past its context in training), naming the record."""
    limit = model_max_length(tok)
    if limit is not None and stats.longest_row > limit:
        log.warning(
            "the longest row has %s tokens (%s), more than the tokenizer's model_max_length %s: the model "
            "would be trained past its context; pass --max-length %s to truncate (or drop: --truncation drop)",
            f"{stats.longest_row:,}",
            stats.longest_row_at,
            f"{limit:,}",
            limit,
        )


def _paths_read(config: BuildConfig, files: list[InputFile]) -> list[str]:
    """Files and folders the build reads, which replacing the output must not delete."""
    paths = [f.name for f in files if f.name != STDIN]
    paths += [source for f in files if (source := remote.local_source(f.name)) is not None]  # zip://...::x.zip
    named = [config.tokenizer, config.chat_template, config.template]
    if isinstance(config.label_names, str):
        named.append(config.label_names)
    return paths + [name for name in named if name is not None and os.path.exists(remote.local_path(name))]


def open_tokenizer(config: BuildConfig, tok: LoadedTokenizer | None = None) -> LoadedTokenizer:
    """Load the configured tokenizer and check it can do what the config asks (EOS).

    Args:
        config: the build config.
        tok: an already loaded tokenizer to check instead of loading `config.tokenizer`.

    Raises:
        TokenizerError: it cannot be loaded, or has no EOS while `add_eos` is on.
    """
    if tok is None:
        tok = load_tokenizer(config.tokenizer, trust_remote_code=config.trust_remote_code)
    if config.kind.appends_eos(config) and tok.eos_id is None:
        raise TokenizerError(
            f"tokenizer {config.tokenizer!r} has no EOS token; pass --no-add-eos, or use a tokenizer with an eos_token"
        )
    return tok


def open_session(
    config: BuildConfig, tok: LoadedTokenizer, files: list[InputFile], scan: Scan = scan_here
) -> EncodingSession:
    """The configured data kind's encoder for this build (label names, start-up checks); a pass
    over the inputs it needs first runs with `scan` (the build's engine's)."""
    return config.kind.open_scanning(config, tok, files, scan)


SAMPLED_RECORDS = 32
"""Records of the first input whose fields decide the data format (`sftmask.io.formats.detect`)."""


def detect_format(config: BuildConfig, files: list[InputFile]) -> tuple[BuildConfig, DataFormat | None]:
    """The config reading the inputs' format, told by the fields of the first records of the first
    input (`sftmask.io.formats`), and that format; the config as given, and None, when no format
    is told (stdin, unknown fields) or the options given read the records another way.

    Raises:
        InputDataError: the first records are of more than one format.
    """
    if not files:
        return config, None
    first = sample_records(files[0], SAMPLED_RECORDS, config.delimiter)
    sample = [(files[0].where(position), record) for position, record in first]
    return _read_as(config, detect(sample), files[0].name)


def _read_as(config: BuildConfig, fmt: DataFormat | None, name: str) -> tuple[BuildConfig, DataFormat | None]:
    if fmt is None:
        return config, None
    updated = with_format(config, fmt)
    if updated is None:
        return config, None
    said = [fmt.note] if fmt.note else []
    if updated.strategy != config.strategy:
        said.append(f"--strategy {updated.strategy}")
    if updated.resolved_data_kind != config.resolved_data_kind:
        said.insert(0, f"read as {updated.resolved_data_kind} data")
    if said:
        log.warning("%s: %s records: %s", name, fmt.title, "; ".join(said))
    return updated, fmt


def _input_manifest(fmt: DataFormat | None) -> dict[str, Any]:
    """The manifest's ``input`` entry: the format the records were read as (None: by the options alone)."""
    if fmt is None:
        return {"input": {"format": None}}
    return {"input": {"format": fmt.name, "title": fmt.title, "options": fmt.settings}}


def make_reader(
    config: BuildConfig, files: list[InputFile], batch_size: int | None = None, data_format: DataFormat | None = None
) -> RecordReader:
    """A reader delivering the fields the configured data kind needs (`data_format`: the format
    the records are read as, so that a record of another one is an error)."""
    fields = config.kind.fields(config)
    return RecordReader(
        files,
        text_fields=fields.text,
        object_fields=fields.objects,
        optional_object_fields=fields.optional_objects,
        field_hints=fields.hints,
        keep_fields=config.keep_columns,
        batch_size=batch_size or config.batch_size,
        skip_errors=config.on_error == "skip",
        max_chars=config.max_chars,
        # Without --max-length a text is encoded whole: refuse one the tokenizer could not hold.
        memory_budget=limits.memory_budget(config.num_proc) if config.max_length is None else None,
        unused_fields=_unused_fields(config),
        data_format=data_format,
        delimiter=config.delimiter,
    )


def _unused_fields(config: BuildConfig) -> dict[str, str]:
    """Fields a record may fill that this config leaves out, with how to use them."""
    if config.resolved_data_kind != "prompt-response" or config.template is not None:
        return {}
    if config.prompt_field == "instruction" and "input" not in (config.prompt_field, config.response_field):
        left_out = {
            "input": "--prompt-field instruction leaves Alpaca's input out of the prompt",
            "system": "--prompt-field instruction leaves LLaMA-Factory's system prompt out",
            "history": "--prompt-field instruction leaves LLaMA-Factory's earlier turns (history) out",
        }
        return {name: f"{why}; pass --template alpaca" for name, why in left_out.items()}
    return {}


def _shard_dir(config: BuildConfig, output: OutputDir | RemoteOutputDir) -> str | None:
    """Where the engine's workers write the shards themselves (`--ray-write workers`), if they do.

    Raises:
        ConfigError: the output is remote (its temporary folder is on this machine only).
    """
    if config.ray_write != "workers":
        return None
    if not isinstance(output, OutputDir):
        raise ConfigError(
            f"--ray-write workers writes the shards into --output {config.output} from every node, which needs a "
            "folder they all see (a shared filesystem); for a remote --output pass --ray-write driver"
        )
    return str(output.tmp)


def _write(labelled: Labelled, shard_writer: ShardWriter, reject_writer: RejectWriter, output: Path | str) -> None:
    with _output_errors(output):
        reject_writer.write(labelled.rejects)
        if labelled.rows.num_rows:
            shard_writer.write(labelled.rows)
        shard_writer.adopt(labelled.shards)


@contextlib.contextmanager
def _output_errors(output: Path | str) -> Iterator[None]:
    """Turn an OSError while writing (disk full, quota, permissions) into a one-line OutputError."""
    try:
        yield
    except OSError as exc:
        code = errno.errorcode.get(exc.errno) if exc.errno is not None else None
        errno_name = f" ({code})" if code else ""
        raise OutputError(
            f"cannot write the output {output}: {exc.strerror or exc}{errno_name}; nothing was written "
            "(free some space, or choose another --output)"
        ) from exc


def _packer(config: BuildConfig) -> Packer | None:
    """The packing stage the config asks for, if any."""
    if config.pack_length is None:
        return None
    return Packer(config.pack_length, config.pack_strategy, config.pack_window, list(config.keep_columns))


def _output_schema(config: BuildConfig, reader: RecordReader) -> pa.Schema:
    if config.pack_length is not None:
        kept = _output_schema(config.model_copy(update={"pack_length": None}), reader)
        return packed_schema({name: kept.field(name).type for name in config.keep_columns})
    token_list = pa.list_(pa.int32())
    fields = [
        pa.field("input_ids", token_list),
        pa.field("attention_mask", pa.list_(pa.int8())),
        pa.field("labels", token_list),
    ]
    if config.writes_assistant_masks:
        fields.append(pa.field("assistant_masks", pa.list_(pa.int8())))
    fields += [pa.field(name, reader.keep_type(name)) for name in config.keep_columns]
    return pa.schema(fields)


def _manifest(
    config: BuildConfig,
    tok: LoadedTokenizer,
    stats: Counts,
    shards: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest; `extra` holds the data kind's own entries (e.g. `label2id`, `id2label`)."""
    return {
        "sftmask_version": __version__,
        "config": config.model_dump(mode="json"),
        "tokenizer": describe(tok),
        "strategy": {"name": config.strategy, "description": STRATEGIES[config.strategy].description},
        "data_kind": config.resolved_data_kind,
        "labels": {"ignore_index": -100, "shifted": False},
        "counts": stats.to_json(),
        "shards": shards,
        **(extra or {}),
    }
