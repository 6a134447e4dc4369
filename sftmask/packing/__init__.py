"""Packing labelled rows into fixed-length rows (`packer`), and the collator that trains on them
(`collator`).

`PackedCollator` is public API (``from sftmask.packing import PackedCollator``); it loads its
module on first use, so the build does not import it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PackedCollator"]


def __getattr__(name: str) -> Any:
    if name == "PackedCollator":
        from sftmask.packing.collator import PackedCollator

        return PackedCollator
    raise AttributeError(f"module 'sftmask.packing' has no attribute {name!r}")
