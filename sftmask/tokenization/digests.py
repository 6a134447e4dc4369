"""The SHA-256 of a tokenizer file, remembered per state of the file.

Every build fingerprints its tokenizer's files for the manifest; hashing a 33 MB tokenizer.json
(Qwen's) takes ~20 ms, a sixth of what sftmask adds to a one-record build. The digest of a file is
kept in the user's cache (``$XDG_CACHE_HOME/sftmask/digests``, else ``~/.cache/...``) under the
file's path, device, inode, size, modification and change times: writing to the file changes its
change time (ctime), which no program can set back, so a changed file is hashed again. A file
changed within the last `SETTLE_SECONDS` is not remembered: a second write in the same tick of
a coarse filesystem clock could leave all of those unchanged (git's "racily clean" entries). The
cache is best effort: where it cannot be read or written, the file is hashed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path

MIN_BYTES = 1 << 20
"""Smaller files are hashed every time (faster than looking the digest up)."""
SETTLE_SECONDS = 2.0
"""A file changed this recently is hashed but not remembered."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sftmask" / "digests"


def file_digest(path: Path) -> bytes:
    """SHA-256 of the file's bytes (from the cache when the file has not changed since)."""
    stat = path.stat()
    if stat.st_size < MIN_BYTES:
        return hashlib.sha256(path.read_bytes()).digest()
    state = f"{path.resolve()}\0{stat.st_dev}\0{stat.st_ino}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}"
    entry: Path | None = None
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # RuntimeError: no home folder
        entry = cache_dir() / hashlib.sha256(state.encode("utf-8", "surrogateescape")).hexdigest()
        kept = bytes.fromhex(entry.read_text(encoding="ascii"))
        if len(kept) == hashlib.sha256().digest_size:
            return kept
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").digest()
    if entry is not None and time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) > SETTLE_SECONDS * 1e9:
        _remember(entry, digest)
    return digest


def _remember(entry: Path, digest: bytes) -> None:
    with contextlib.suppress(OSError):
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(digest.hex())
            os.replace(tmp, entry)  # whole or not at all, whoever else writes the same entry
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
