"""What a data kind is: its options, the per-token signals it provides, and its batch encoder."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import pyarrow as pa

from sftmask.config.common import CommonOptions
from sftmask.labels.strategies import EncodedBatch, Signal
from sftmask.tokenization.load import LoadedTokenizer

if TYPE_CHECKING:
    from sftmask.io.readers import InputFile, RecordReader

OptionsT = TypeVar("OptionsT", bound=CommonOptions)

Collect = Callable[[pa.RecordBatch], set[Any]]
"""What one batch of a pass over the inputs contributes (e.g. the distinct tags it holds).
Picklable (a module-level function or a `functools.partial` of one): an engine may run it in
other processes."""

Scan = Callable[["RecordReader", Collect], set[Any]]
"""A pass over the inputs: the union of what `Collect` finds in each batch of the reader. In
this process (`scan_here`) or on an engine's workers (`engines.ray`): the same set either way."""


def scan_here(reader: RecordReader, collect: Collect) -> set[Any]:
    """`Scan` in this process: `collect` on each of the reader's batches, the results united."""
    values: set[Any] = set()
    for batch in reader:
        values |= collect(batch.table)
    return values


class EncodingSession(Protocol):
    """A data kind's encoder for one build: prepared once, then called per batch (picklable)."""

    def encode(self, table: pa.RecordBatch) -> tuple[EncodedBatch, dict[str, int]]:
        """Encode one batch; also return counts (`boundary_merges`, `truncated`) for the stats."""
        ...

    def manifest(self, counts: dict[str, int]) -> dict[str, Any]:
        """Extra top-level manifest entries, once the build is done, from the totals of the
        counts `encode` returned (summed; keys starting ``max_`` take the maximum)."""
        ...


@dataclass(frozen=True)
class Fields:
    """The record fields a kind reads, as the reader must deliver them."""

    text: list[str]
    """Fields every record must hold as strings."""
    objects: list[str] = field(default_factory=list)
    """Fields holding JSON values (lists, objects); passed on as JSON text."""
    optional_objects: list[str] = field(default_factory=list)
    """Fields that may be absent (null then), passed on as JSON text."""
    hints: dict[str, str] | None = None
    """Per text field, how to fix a record that lacks it (None: the reader's default hints)."""


class DataKind(ABC, Generic[OptionsT]):
    """A kind of input record. Subclasses set the class attributes and implement `fields`/`open`.

    `OptionsT` is the kind's options model: `CommonOptions` plus the kind's own fields; `BuildConfig`
    derives from every kind's model, so a build's config is passed to every method.
    """

    name: ClassVar[str]
    """Public name (`--data-kind`)."""
    description: ClassVar[str]
    options: ClassVar[type[CommonOptions]]
    """The kind's options model (a subclass of `CommonOptions` adding the kind's own fields)."""
    provides: ClassVar[frozenset[Signal]]
    """Per-token signals its encoder fills in `EncodedBatch`; a strategy applies when its needs
    are a subset."""
    options_select: ClassVar[bool] = False
    """Giving one of the kind's own options picks this kind (when the strategy applies to it)."""
    default_strategy: ClassVar[str] = "response-only"
    """The strategy a build of this kind uses when `--data-kind` names it and no `--strategy` is given."""

    @classmethod
    def own_options(cls) -> list[str]:
        """Names of the options this kind adds to the common ones."""
        return [name for name in cls.options.model_fields if name not in CommonOptions.model_fields]

    def options_given(self, config: OptionsT) -> bool:
        """Whether any of the kind's own options was given (is not None)."""
        return any(getattr(config, name) is not None for name in self.own_options())

    @abstractmethod
    def fields(self, config: OptionsT) -> Fields:
        """The fields records of this kind must hold."""

    @abstractmethod
    def open(self, config: OptionsT, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
        """The session that encodes this build's batches (label names, start-up checks)."""

    def open_scanning(
        self, config: OptionsT, tok: LoadedTokenizer, files: list[InputFile], scan: Scan
    ) -> EncodingSession:
        """`open`, passing over the inputs with `scan` where the kind needs a pass before encoding
        (word data's label set): the build's engine gives its own. Kinds without one just `open`."""
        return self.open(config, tok, files)

    def appends_eos(self, config: OptionsT) -> bool:
        """Whether the encoder appends EOS (so the tokenizer needs one)."""
        return False

    def check(self, config: OptionsT, *, chosen: bool) -> None:
        """Raise ValueError when the kind's options do not fit; `chosen`: this kind reads the records."""


@dataclass(frozen=True)
class StatelessSession(Generic[OptionsT]):
    """A session for kinds that keep no state between batches: calls `encode(tok, table, config)`."""

    encoder: Callable[[LoadedTokenizer, pa.RecordBatch, OptionsT], tuple[EncodedBatch, dict[str, int]]]
    """A module-level function (so the session pickles)."""
    config: OptionsT
    tok: LoadedTokenizer

    def encode(self, table: pa.RecordBatch) -> tuple[EncodedBatch, dict[str, int]]:
        return self.encoder(self.tok, table, self.config)

    def manifest(self, counts: dict[str, int]) -> dict[str, Any]:
        return {}
