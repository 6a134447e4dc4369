"""The one place that wires read -> tokenize -> mask -> write for `sftmask build`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sftmask import __version__
from sftmask.background import BackgroundWriter, prefetch
from sftmask.config import BuildConfig
from sftmask.engines import ENGINES
from sftmask.errors import InputDataError, TokenizerError
from sftmask.formatting import DATA_KINDS, EncodingSession
from sftmask.labelling import Counts, Job, Labelled
from sftmask.output_writer import OutputDir, RejectWriter, ShardWriter, write_manifest
from sftmask.readers import InputFile, RecordReader, resolve_inputs
from sftmask.strategies import STRATEGIES
from sftmask.tokenizer import LoadedTokenizer, describe, load_tokenizer

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


def build(config: BuildConfig, on_progress: Callable[[Progress], None] | None = None) -> BuildResult:
    """Run a build: read the inputs, tokenize and mask in batches, write shards and manifest.

    Raises:
        SftmaskError: bad input (with `on_error=fail`), tokenizer or output problems; the output
            directory is then left untouched.
    """
    files = resolve_inputs(config.inputs, config.input_format, config.split)
    output = OutputDir(config.output, overwrite=config.overwrite)
    tok = open_tokenizer(config)
    session = open_session(config, tok, files)
    reader = make_reader(config, files)
    stats = Counts()
    job = Job(config, session, tuple(files))
    with output:
        shard_writer = ShardWriter(
            output.tmp, fmt=config.format, split=config.split, rows_per_shard=config.rows_per_shard
        )
        reject_writer = RejectWriter(output.tmp)
        writer = BackgroundWriter()
        try:
            for labelled in ENGINES[config.engine](prefetch(iter(reader)), job):
                stats.add(labelled.counts)
                writer.submit(_write, labelled, shard_writer, reject_writer)
                if on_progress is not None:
                    on_progress(Progress(reader.records_read, stats.tokens, labelled.bytes_read, reader.total_bytes))
            writer.close()
        except BaseException:
            writer.abort()  # the first error is the one to report, not a write it interrupted
            raise
        finally:
            reject_writer.close()
        stats.records_read = reader.records_read
        if stats.records_read == 0:
            raise InputDataError(f"no records found in {', '.join(f.name for f in files)}")
        shards = shard_writer.close(_output_schema(config, reader))
        manifest = _manifest(config, tok, stats, shards, session.manifest(stats.encoder_counts))
        write_manifest(output.tmp, manifest)
        output.commit()
    return BuildResult(str(output.path), stats, shards, manifest)


def open_tokenizer(config: BuildConfig) -> LoadedTokenizer:
    """Load the configured tokenizer and check it can do what the config asks (EOS).

    Raises:
        TokenizerError: it cannot be loaded, or has no EOS while `add_eos` is on.
    """
    tok = load_tokenizer(config.tokenizer, trust_remote_code=config.trust_remote_code)
    kind = DATA_KINDS[config.resolved_data_kind]
    if config.add_eos and kind.appends_eos and tok.eos_id is None and not config.renders_chat:
        raise TokenizerError(
            f"tokenizer {config.tokenizer!r} has no EOS token; pass --no-add-eos, or use a tokenizer with an eos_token"
        )
    return tok


def open_session(config: BuildConfig, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
    """The configured data kind's encoder for this build (label names, start-up checks)."""
    return DATA_KINDS[config.resolved_data_kind].open(config, tok, files)


def make_reader(config: BuildConfig, files: list[InputFile], batch_size: int | None = None) -> RecordReader:
    """A reader delivering the fields the configured data kind needs."""
    kind = DATA_KINDS[config.resolved_data_kind]
    return RecordReader(
        files,
        text_fields=kind.text_fields(config),
        object_fields=kind.object_fields(config),
        optional_object_fields=kind.optional_object_fields(config),
        field_hints=kind.field_hints(config),
        keep_fields=config.keep_columns,
        batch_size=batch_size or config.batch_size,
        skip_errors=config.on_error == "skip",
        unused_fields=_unused_fields(config),
    )


def _unused_fields(config: BuildConfig) -> dict[str, str]:
    """Fields a record may fill that this config leaves out, with how to use them."""
    if config.resolved_data_kind != "prompt-response" or config.template is not None:
        return {}
    if config.prompt_field == "instruction" and "input" not in (config.prompt_field, config.response_field):
        return {"input": "--prompt-field instruction leaves Alpaca's input out of the prompt; pass --template alpaca"}
    return {}


def _write(labelled: Labelled, shard_writer: ShardWriter, reject_writer: RejectWriter) -> None:
    reject_writer.write(labelled.rejects)
    if labelled.rows.num_rows:
        shard_writer.write(labelled.rows)


def _output_schema(config: BuildConfig, reader: RecordReader) -> pa.Schema:
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
