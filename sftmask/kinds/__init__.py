"""Data kinds: how a record's fields become a tokenized row, one module per kind.

Each kind (`DataKind`) owns its options model, names the fields the reader must deliver,
declares the per-token signals its encoder provides, and encodes batches into `EncodedBatch`.
A strategy applies to a kind when the signals it needs are a subset of what the kind provides.

Adding a kind is a module here plus its entry in the registry below (see ARCHITECTURE.md). The order matters:
a strategy's default kind is the first one here that provides what it needs.
"""

from __future__ import annotations

from typing import Any

from sftmask.kinds.base import DataKind, EncodingSession, Fields
from sftmask.kinds.chat import Chat
from sftmask.kinds.prompt_response import PromptResponse
from sftmask.kinds.text import Text
from sftmask.kinds.words import Words
from sftmask.labels.strategies import Strategy

# The registry: each kind once here, and its options model once among the bases of
# `sftmask.config.options.BuildOptions` (in the reverse order, so the options keep this order).
DATA_KINDS: dict[str, DataKind[Any]] = {kind.name: kind for kind in (PromptResponse(), Chat(), Words(), Text())}
"""Data kinds by their public name (`--data-kind`), in the order defaults are chosen."""


def kinds_for(strategy: Strategy) -> list[str]:
    """The kinds a strategy applies to (those providing every signal it needs), in registry order."""
    return [name for name, kind in DATA_KINDS.items() if strategy.needs <= kind.provides]


__all__ = ["DATA_KINDS", "DataKind", "EncodingSession", "Fields", "kinds_for"]
