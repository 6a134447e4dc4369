"""Size limits on what sftmask loads (config files, templates) and on the error messages it writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sftmask.errors import SftmaskError

MAX_TEXT_FILE_BYTES = 1 << 20
"""Config files, prompt templates and chat templates are small: more is refused before parsing."""
MAX_MESSAGE_CHARS = 2000
"""Error messages longer than this (they may quote record data) are cut."""


def read_text_file(path: str | Path, what: str, error: type[SftmaskError], max_bytes: int = MAX_TEXT_FILE_BYTES) -> str:
    """Read a small UTF-8 text file (a config or template), refusing a larger or undecodable one.

    Raises:
        error: the file cannot be read, is larger than `max_bytes`, or is not UTF-8.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{what} {path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise error(f"{what} {path}: larger than {max_bytes:,} bytes; is it the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} {path}: byte 0x{data[exc.start]:02x} at byte {exc.start + 1} is not valid UTF-8; "
            "save the file as UTF-8"
        ) from exc


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors' aliases: a few lines of nested aliases expand to gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in sftmask files", event.start_mark
            )
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load` without aliases.

    Raises:
        yaml.YAMLError: not valid YAML, or it uses an alias.
    """
    return yaml.load(text, Loader=_NoAliasLoader)


def clip(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`message`, cut to `limit` characters (saying how long it was)."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}... ({len(message):,} characters in all)"
