"""The SHA-256 of a tokenizer file, remembered per state of the file.

Every build fingerprints its tokenizer's files for the manifest; hashing a 33 MB tokenizer.json
(Qwen's) takes ~20 ms, a sixth of what sftmask adds to a one-record build. The digest of a file is
kept in the user's cache (`sftmask.usercache`, kind ``digests``) under the file's path, device,
inode, size, modification and change times: writing to the file changes its change time (ctime),
which no program can set back, so a changed file is hashed again. A file changed within the last
`SETTLE_SECONDS` is not remembered: a second write in the same tick of a coarse filesystem clock
could leave all of those unchanged (git's "racily clean" entries).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from sftmask import usercache

MIN_BYTES = 1 << 20
"""Smaller files are hashed every time (faster than looking the digest up)."""
SETTLE_SECONDS = 2.0
"""A file changed this recently is hashed but not remembered."""


def file_digest(path: Path) -> bytes:
    """SHA-256 of the file's bytes (from the cache when the file has not changed since)."""
    stat = path.stat()
    if stat.st_size < MIN_BYTES:
        return hashlib.sha256(path.read_bytes()).digest()
    state = (path.resolve(), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    entry = usercache.entry("digests", *state)
    kept = usercache.read(entry)
    if kept is not None and len(kept) == 64:
        try:
            return bytes.fromhex(kept)
        except ValueError:
            pass
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").digest()
    if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) > SETTLE_SECONDS * 1e9:
        usercache.write(entry, digest.hex())
    return digest
