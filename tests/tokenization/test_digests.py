"""The tokenizer files' digests, remembered per state of the file (`sftmask/tokenization/digests.py`)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sftmask.tokenization import digests
from sftmask.tokenization.digests import file_digest


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(digests, "SETTLE_SECONDS", 0.0)  # files written by the test count as settled
    return tmp_path / "cache" / "sftmask" / "digests"


def _no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("hashed the file again")

    monkeypatch.setattr(hashlib, "file_digest", refuse)


def test_a_file_is_hashed_once_while_it_does_not_change(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(b"a" * (2 << 20))
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).digest()
    assert len(list(cache.iterdir())) == 1
    _no_hashing(monkeypatch)
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).digest()


def test_a_changed_file_is_hashed_again_even_with_its_size_and_time_kept(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(b"a" * (2 << 20))
    before = path.stat()
    assert file_digest(path) == hashlib.sha256(b"a" * (2 << 20)).digest()
    path.write_bytes(b"b" * (2 << 20))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same size and modification time
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_size == before.st_size
    assert file_digest(path) == hashlib.sha256(b"b" * (2 << 20)).digest()


def test_a_file_changed_just_now_is_not_remembered(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "SETTLE_SECONDS", 60.0)
    path = tmp_path / "tokenizer.json"
    path.write_bytes(b"a" * (2 << 20))
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).digest()
    assert not cache.exists()


def test_small_files_and_an_unwritable_cache_are_hashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # sftmask/digests cannot be made under a file
    monkeypatch.setattr(digests, "SETTLE_SECONDS", 0.0)
    for size in (10, 2 << 20):
        path = tmp_path / f"file-{size}"
        path.write_bytes(b"x" * size)
        assert file_digest(path) == hashlib.sha256(path.read_bytes()).digest()
        assert file_digest(path) == hashlib.sha256(path.read_bytes()).digest()


def test_the_fingerprint_is_the_digest_of_the_files(
    sample_tokenizer_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest's fingerprint is what it was: SHA-256 over each file's name and SHA-256."""
    from sftmask.tokenization.load import TOKENIZER_FILES, fingerprint_tokenizer

    expected = hashlib.sha256()
    for name in TOKENIZER_FILES:
        path = sample_tokenizer_path / name
        if path.is_file():
            expected.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    monkeypatch.setattr(digests, "MIN_BYTES", 0)  # the sample tokenizer's files are small: remember them too
    first = fingerprint_tokenizer(str(sample_tokenizer_path), None)  # type: ignore[arg-type]
    _no_hashing(monkeypatch)
    assert fingerprint_tokenizer(str(sample_tokenizer_path), None) == first == "sha256:" + expected.hexdigest()  # type: ignore[arg-type]
