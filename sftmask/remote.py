"""Remote paths: inputs and outputs on any filesystem fsspec reaches (``s3://``, ``gs://``, ``hf://``...).

A name is remote when it starts with a URL scheme (``s3://bucket/key``); ``file://`` URLs and plain
paths stay local and keep the local code paths (locks, atomic renames). fsspec comes with
`datasets`; the protocol's own package (``s3fs``, ``gcsfs``...) is the user's to install, and its
absence is a one-line error naming it. Credentials and endpoints come from the filesystem's usual
places (for S3: the AWS environment variables, ``~/.aws``, ``AWS_ENDPOINT_URL_S3``), or from
fsspec's ``FSSPEC_<PROTOCOL>_<OPTION>`` environment variables.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from sftmask.errors import SftmaskError

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}


def is_remote(name: str) -> bool:
    """Whether `name` is a URL that fsspec must open (any scheme but ``file``).

    >>> is_remote("s3://bucket/data.jsonl"), is_remote("data/train.jsonl"), is_remote("file:///tmp/x.jsonl")
    (True, False, False)
    """
    match = _URL.match(name)
    return match is not None and match["scheme"].lower() != "file"


def local_path(name: str) -> str:
    """A ``file://`` URL as a plain path; any other name unchanged.

    >>> local_path("file:///tmp/data.jsonl"), local_path("data.jsonl")
    ('/tmp/data.jsonl', 'data.jsonl')
    """
    return name[len("file://") :] if name.lower().startswith("file://") else name


def filesystem(url: str, error: type[SftmaskError]) -> tuple[Any, str]:
    """The fsspec filesystem for `url` and the path inside it.

    Raises:
        error: the protocol is unknown, or the package that implements it is not installed.
    """
    import fsspec.core

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        scheme = url.split("://", 1)[0].lower()
        package = _PACKAGES.get(scheme, f"the fsspec package for {scheme}://")
        raise error(
            f"{url}: reading or writing {scheme}:// paths needs {package}; install it with: pip install {package}"
        ) from exc
    except ValueError as exc:  # "Protocol not known"
        raise error(f"{url}: {exc}") from exc
    return fs, str(path)


def expand(pattern: str, error: type[SftmaskError]) -> list[tuple[str, int | None]]:
    """The files a remote path or glob names, in sorted order, as (URL, size in bytes).

    Raises:
        error: nothing matches, a match is a directory, or the filesystem refuses (credentials,
            permissions, an unreachable endpoint): one line, with the filesystem's reason.
    """
    fs, path = filesystem(pattern, error)
    with remote_errors(pattern, error):
        fs.invalidate_cache()
        if any(ch in path for ch in "*?["):
            paths = sorted(fs.glob(path))
            if not paths:
                raise error(f"no file matches {pattern!r}")
        else:
            paths = [path]
        found = []
        for name in paths:
            info = fs.info(name)
            if info.get("type") != "file":
                raise error(f"{fs.unstrip_protocol(name)}: not a file")
            found.append((fs.unstrip_protocol(name), info.get("size")))
    return found


def open_input(url: str, error: type[SftmaskError]) -> IO[bytes]:
    """`url` opened for reading as bytes. What its filesystem raises while reading (botocore,
    aiohttp, ... errors) comes out as `OSError`, as a local file's read errors do."""
    fs, path = filesystem(url, error)
    with remote_errors(url, error):
        stream = fs.open(path, "rb", block_size=1 << 22)
    return io.BufferedReader(_OSErrors(stream), buffer_size=1 << 20)


class _OSErrors(io.RawIOBase):
    """A remote file whose read errors are `OSError`s (with the library's error type named)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self.raw.readinto(buffer) or 0)
        except OSError:
            raise
        except Exception as exc:
            raise OSError(f"{type(exc).__name__}: {_first_line(exc)}") from exc

    def close(self) -> None:
        self.raw.close()
        super().close()


@contextmanager
def local_copy(url: str, error: type[SftmaskError]) -> Iterator[str]:
    """A remote directory (a build's output) downloaded into a temporary folder, removed after the
    with-block; a local path is given back as it is."""
    if not is_remote(url):
        yield local_path(url)
        return
    import shutil
    import tempfile

    fs, root = filesystem(url, error)
    folder = tempfile.mkdtemp(prefix="sftmask-copy-")
    try:
        with remote_errors(url, error):
            fs.invalidate_cache(root)
            keys = list(fs.find(root))
            if not keys:
                raise error(f"{url}: no such directory")
            for key in keys:
                target = os.path.join(folder, os.path.relpath(key, root))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                fs.get_file(key, target)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def remote_errors(url: str, error: type[SftmaskError]) -> Iterator[None]:
    """Turn what a remote filesystem raises (missing files, refused credentials, network errors)
    into one `error` line naming `url`."""
    try:
        yield
    except SftmaskError:
        raise
    except FileNotFoundError as exc:
        raise error(f"{url}: no such file") from exc
    except PermissionError as exc:
        raise error(f"{url}: permission denied: {_first_line(exc)}") from exc
    except Exception as exc:  # botocore, aiohttp, gcsfs...: each library has its own exception types
        raise error(f"{url}: {type(exc).__name__}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
