"""Opening a build's pieces: its sources (a recipe's entries, or the build itself), each with
the data format its records are read as, its tokenizer check, encoding session and reader."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sftmask import limits
from sftmask.config.build import BuildConfig, with_format
from sftmask.config.recipe import RecipeConfig
from sftmask.errors import ConfigError, TokenizerError
from sftmask.io.formats import DataFormat, detect
from sftmask.io.readers import InputFile, RecordReader, resolve_inputs, sample_records
from sftmask.kinds import EncodingSession
from sftmask.kinds.base import Scan, scan_here
from sftmask.labels.batch import Counts
from sftmask.tokenization.load import LoadedTokenizer, load_tokenizer

log = logging.getLogger(__name__)


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
    return read_as(config, detect(sample), files[0].name)


def read_as(config: BuildConfig, fmt: DataFormat | None, name: str) -> tuple[BuildConfig, DataFormat | None]:
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


@dataclass
class SourceRun:
    """One source of a build as it runs: its config, inputs, format, encoder and counts."""

    name: str
    config: BuildConfig
    files: list[InputFile]
    data_format: DataFormat | None
    take: int | float | None = None
    weight: float | None = None
    session: EncodingSession | None = None
    stats: Counts = field(default_factory=Counts)

    def reader(self) -> RecordReader:
        """A reader of the source (what the kept columns' types are read from)."""
        return make_reader(self.config, self.files, data_format=self.data_format)


def prepare_sources(config: BuildConfig) -> list[SourceRun]:
    """The sources of a build (a recipe's entries, or the build itself), inputs resolved and format told.

    Raises:
        ConfigError: a recipe mixes word-labelled data with language-model data.
    """
    if not isinstance(config, RecipeConfig):
        files = resolve_inputs(config.inputs, config.input_format, config.split)
        config, data_format = detect_format(config, files)
        return [SourceRun(config.split, config, files, data_format)]
    runs = []
    for entry, source_config in config.sources():
        files = resolve_inputs(source_config.inputs, source_config.input_format, source_config.split)
        source_config, data_format = detect_format(source_config, files)
        runs.append(SourceRun(entry.name, source_config, files, data_format, entry.take, entry.weight))
    words = [run.name for run in runs if run.config.resolved_data_kind == "words"]
    if words:
        raise ConfigError(
            f"datasets: {', '.join(words)}: word-labelled data (tag ids as labels, each source with its own label "
            "set) is built on its own, not in a recipe; build it with `sftmask build` (--val-size and --shuffle work there)"
        )
    return runs
