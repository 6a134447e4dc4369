"""The one place that wires read -> tokenize -> mask -> write for `sftmask build`."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, overload

import pyarrow as pa

from sftmask.arrays import from_strings
from sftmask.config.build import BuildConfig
from sftmask.config.recipe import MIXING_KEYS, RecipeConfig, make_config
from sftmask.engines import ENGINES
from sftmask.errors import ConfigError, InputDataError, OutputError
from sftmask.io import remote
from sftmask.io.background import BackgroundWriter
from sftmask.io.card import write_card
from sftmask.io.formats import detect
from sftmask.io.output_dir import OutputDir, RemoteOutputDir, open_output_dir
from sftmask.io.readers import STDIN, InputFile, RecordReader
from sftmask.io.writer import RejectWriter, write_manifest
from sftmask.labels.batch import Counts, Job, label_read_batch, rejects_table
from sftmask.labels.strategies import STRATEGIES
from sftmask.manifest import build_manifest, written_counts
from sftmask.mixing.mixer import Mixer, Plan
from sftmask.mixing.splits import TRAIN
from sftmask.mixing.writer import DATA_DIR, SplitWriter
from sftmask.opening import (
    SAMPLED_RECORDS,
    detect_format,
    make_reader,
    open_session,
    open_tokenizer,
    prepare_sources,
    read_as,
)
from sftmask.packing.packer import Packer, packed_schema
from sftmask.tokenization.load import LoadedTokenizer, model_max_length

__all__ = [
    "SAMPLED_RECORDS",
    "BuildResult",
    "Progress",
    "build",
    "detect_format",
    "label",
    "make_reader",
    "open_session",
    "open_tokenizer",
]

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
    """Run a build: read the inputs (each source of a recipe in turn), tokenize and mask in
    batches, de-duplicate, take, split, mix and shuffle as asked, write shards and manifest (and a
    dataset card for a split layout).

    Args:
        config: the build config (`load_config`; a `RecipeConfig` for several sources); or give
            its options as keywords instead.
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
    runs = prepare_sources(config)
    recipe = isinstance(config, RecipeConfig)
    paths = [path for run in runs for path in _paths_read(run.config, run.files)]
    # The output is locked (and checked) first, for the whole build: see `OutputDir` (a remote
    # output is checked now and uploaded at the end: `RemoteOutputDir`).
    with open_output_dir(config.output, overwrite=config.overwrite, keep=paths) as output:
        tok = open_tokenizer(config)
        for run in runs:
            open_tokenizer(run.config, tok)  # each source's own need of an EOS
        mixer = Mixer(
            output.tmp / MIXING_DIR,
            [Plan(run.take, run.weight) for run in runs],
            val_size=config.val_size,
            test_size=config.test_size,
            shuffle=config.shuffle,
            seed=config.seed,
            dedup=config.dedup,
            stopping_strategy=config.stopping_strategy,
        )
        layout = recipe or len(mixer.splits) > 1
        packer = _packer(config, extra_columns=[SOURCE_COLUMN] if recipe else [])
        split_writer = SplitWriter(
            output.tmp,
            mixer.splits,
            fmt=config.format,
            rows_per_shard=config.rows_per_shard,
            layout=layout,
            packer=packer,
            single_split_name=config.split,
        )
        stats = Counts()
        # Started once for every pass: a Ray session serves the label-set pass and the labelling.
        with ENGINES[config.engine](config) as engine:
            reject_writer = RejectWriter(output.tmp)
            writer = BackgroundWriter()
            first_reject: dict[str, Any] | None = None
            try:
                for index, run in enumerate(runs):
                    run.session = open_session(run.config, tok, run.files, engine.scan)
                    reader = make_reader(run.config, run.files, data_format=run.data_format)
                    job = Job(
                        run.config,
                        run.session,
                        tuple(run.files),
                        record_keys=mixer.needs_keys,
                        shard_dir=_shard_dir(config, output, recipe or layout or mixer.needs_keys),
                    )
                    for labelled in engine.run(reader, job):
                        run.stats.add(labelled.counts)
                        stats.add(labelled.counts)
                        if first_reject is None and labelled.rejects.num_rows:
                            first_reject = labelled.rejects.slice(0, 1).to_pylist()[0]  # rejects are in input order
                        rows = labelled.rows
                        if recipe and rows.num_rows:
                            rows = rows.append_column(
                                SOURCE_COLUMN, from_strings([run.name] * rows.num_rows, large=False)
                            )
                        writer.submit(_write, mixer, index, rows, labelled.rejects, split_writer, reject_writer, output)
                        if job.shard_dir is not None:  # rows written (and packed) by the engine's workers
                            writer.submit(split_writer.adopt, labelled.shards, labelled.counts, labelled.packing)
                        if on_progress is not None:
                            on_progress(
                                Progress(stats.records_read, stats.tokens, labelled.bytes_read, reader.total_bytes)
                            )
                    if run.stats.records_read == 0:  # summed over batches: an engine may read the files itself
                        named = f"source {run.name!r}: " if recipe else ""
                        raise InputDataError(f"{named}no records found in {', '.join(f.name for f in run.files)}")
                writer.submit(_write_rest, mixer, split_writer, output)
                writer.close()
            except BaseException:
                writer.abort()  # the first error is the one to report, not a write it interrupted
                raise
            finally:
                with _output_errors(output.path):
                    reject_writer.close()
        _check_reject_rate(config, stats, first_reject)
        _check_training_rows(config, split_writer)
        _warn_longer_than_the_model(stats, tok)
        with _output_errors(output.path):
            shards = split_writer.close(_output_schema(runs[0].config, runs[0].reader(), recipe))
            shutil.rmtree(output.tmp / MIXING_DIR, ignore_errors=True)
            manifest = build_manifest(config, tok, stats, shards, runs, mixer, split_writer, recipe)
            if layout:
                write_card(output.tmp, manifest, _split_globs(config.format, mixer.splits))
            write_manifest(output.tmp, manifest)
            output.commit()
    return BuildResult(str(output.path), written_counts(stats, manifest), shards, manifest)


SOURCE_COLUMN = "source"
"""Column naming each row's source (a recipe's `datasets:` entry)."""
MIXING_DIR = ".mixing"
"""Folder of the mixing stage's spill files inside the output's temporary folder (removed before commit)."""


def _shard_dir(config: BuildConfig | RecipeConfig, output: OutputDir | RemoteOutputDir, mixing: bool) -> str | None:
    """Where the engine's workers write the shards themselves (`--ray-write workers`), if they do.

    Raises:
        ConfigError: the output is remote (its temporary folder is on this machine only), or the
            rows pass through a stage that needs them all in this process (`mixing`: sources,
            splits, de-duplication, shuffling). Not packing: each Ray task packs its own rows.
    """
    if config.ray_write != "workers":
        return None
    if not isinstance(output, OutputDir):
        raise ConfigError(
            f"--ray-write workers writes the shards into --output {config.output} from every node, which needs a "
            "folder they all see (a shared filesystem); for a remote --output pass --ray-write driver"
        )
    if mixing or config.shuffle:
        raise ConfigError(
            "--ray-write workers writes each batch where it is labelled, so sources, --val-size/--test-size, "
            "--dedup and --shuffle (which need every row in this process) need --ray-write driver"
        )
    return str(output.tmp)


def _write(
    mixer: Mixer,
    source: int,
    rows: pa.Table,
    rejects: pa.Table,
    split_writer: SplitWriter,
    reject_writer: RejectWriter,
    output: OutputDir | RemoteOutputDir,
) -> None:
    with _output_errors(output.path):
        reject_writer.write(rejects)
        for split, table in mixer.push(source, rows):
            split_writer.write(split, table)


def _write_rest(mixer: Mixer, split_writer: SplitWriter, output: OutputDir | RemoteOutputDir) -> None:
    with _output_errors(output.path):
        for split, table in mixer.finish():
            split_writer.write(split, table)


def _split_globs(fmt: str, splits: list[str]) -> dict[str, str]:
    if fmt == "arrow":
        return {split: f"{split}/data-*.arrow" for split in splits}
    return {split: f"{DATA_DIR}/{split}-*.parquet" for split in splits}


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
    config, data_format = read_as(config, detect(sample), RECORDS)
    if config.pack_length is not None:
        raise ConfigError(
            "pack_length applies to `sftmask build`; label() returns unpacked rows (see sftmask.packing.packer.Packer)"
        )
    mixing = sorted(MIXING_KEYS & config.model_fields_set)
    if mixing:
        raise ConfigError(
            f"{', '.join(mixing)}: splits, shuffling and de-duplication apply to `sftmask build`; label() returns "
            "one row per record, in order"
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
    messages = from_strings([api_words(m) for m in rejected.column("message").to_pylist()], large=False)
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


def _check_training_rows(config: BuildConfig, split_writer: SplitWriter) -> None:
    """Fail a build whose held-out splits took every row written (as `datasets`' train_test_split
    refuses to), rather than write a data set with an empty train split that `load_dataset` rejects.

    Raises:
        ConfigError: naming the sizes asked and the rows there were.
    """
    rows = {split: sum(c.rows for c in by_source.values()) for split, by_source in split_writer.counts.items()}
    if len(rows) < 2 or rows.get(TRAIN) or not any(rows.values()):
        return
    asked = [f"--{name}-size {size}" for name, size in (("val", config.val_size), ("test", config.test_size)) if size]
    held = ", ".join(f"{split} {n:,}" for split, n in rows.items() if n)
    raise ConfigError(
        f"{' and '.join(asked)} held out all {sum(rows.values()):,} rows ({held}): no training row is left; "
        "hold out fewer rows; nothing was written"
    )


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


def _packer(config: BuildConfig, extra_columns: Sequence[str] = ()) -> Packer | None:
    """The packing stage the config asks for, if any (`extra_columns`: kept as lists too, `source`)."""
    if config.pack_length is None:
        return None
    return Packer(config.pack_length, config.pack_strategy, config.pack_window, [*config.keep_columns, *extra_columns])


def _output_schema(config: BuildConfig, reader: RecordReader, with_source: bool = False) -> pa.Schema:
    if config.pack_length is not None:
        kept = _output_schema(config.model_copy(update={"pack_length": None}), reader, with_source)
        names = [*config.keep_columns, *([SOURCE_COLUMN] if with_source else [])]
        return packed_schema({name: kept.field(name).type for name in names})
    token_list = pa.list_(pa.int32())
    fields = [
        pa.field("input_ids", token_list),
        pa.field("attention_mask", pa.list_(pa.int8())),
        pa.field("labels", token_list),
    ]
    if config.writes_assistant_masks:
        fields.append(pa.field("assistant_masks", pa.list_(pa.int8())))
    fields += [pa.field(name, reader.keep_type(name)) for name in config.keep_columns]
    if with_source:
        fields.append(pa.field(SOURCE_COLUMN, pa.string()))
    return pa.schema(fields)
