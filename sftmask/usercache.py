"""Small derived results kept between runs in the user's cache folder (``$XDG_CACHE_HOME/sftmask``,
else ``~/.cache/sftmask``), each under a hash of what it was derived from. Best effort: an entry
that cannot be read or written is derived again."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


def entry(kind: str, *key: object) -> Path | None:
    """The entry of `kind` for `key` (None without a home folder to keep it in)."""
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home folder
        return None
    name = hashlib.sha256("\0".join(map(str, key)).encode("utf-8", "surrogateescape")).hexdigest()
    return base / "sftmask" / kind / name


def read(path: Path | None) -> str | None:
    """The entry's text, or None when there is none (or it cannot be read)."""
    if path is None:
        return None
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text(encoding="utf-8")
    return None


def write(path: Path | None, text: str) -> None:
    """Keep `text` as the entry (whole or not at all, whoever else writes the same entry)."""
    if path is None:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
