"""Remote paths: inputs and outputs on any filesystem fsspec reaches (``s3://``, ``gs://``, ``hf://``...).

A name is remote when it is a URL (``s3://bucket/key``, ``zip::s3://...``) whose files are not on this
machine's filesystem; plain paths and URLs that land on it (``file://``, ``local://``,
``simplecache::file://``) are resolved to their path and keep the local code paths (locks, atomic
renames, the check that an output holds no input). fsspec comes with
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

from sftmask import supervision
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


_CHAIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
# fsspec's caching wrappers (``simplecache::file:///x``): a path under them lands where their target
# does. Other wrappers (``zip::``, ``tar::``) name a path inside an archive, not a file of the target.
_CACHES = frozenset({"simplecache", "filecache", "blockcache", "cached"})


def is_remote(name: str) -> bool:
    """Whether `name` is a URL that fsspec must open: a URL that does not land on this machine's
    filesystem (see `local_target`).

    >>> is_remote("s3://bucket/data.jsonl"), is_remote("data/train.jsonl"), is_remote("file:///tmp/x.jsonl")
    (True, False, False)
    >>> is_remote("local:///tmp/x"), is_remote("simplecache::file:///tmp/x"), is_remote("memory://x")
    (False, False, True)
    """
    return local_target(name) is None


def local_path(name: str) -> str:
    """A URL that lands on this machine's filesystem as its plain path; any other name unchanged.

    >>> local_path("file:///tmp/data.jsonl"), local_path("data.jsonl"), local_path("local:///tmp/a/../b")
    ('/tmp/data.jsonl', 'data.jsonl', '/tmp/a/../b')
    """
    target = local_target(name)
    return name if target is None else target


def local_target(name: str) -> str | None:
    """The path on this machine's filesystem that `name` names, or None when it names a remote file.

    A plain path is its own target. So is any URL fsspec resolves to its local filesystem:
    ``file://``, ``local://`` and those under a caching wrapper (``simplecache::file://...``). Such
    URLs get the local rules (locks, atomic renames, the check that an output holds no input): the
    same files must not be treated as remote by one rule and as local by another.
    """
    chain = name.split("::")
    if _URL.match(name) is None and (len(chain) == 1 or not _is_protocol_chain(chain)):
        return name
    if len(chain) > 1 and (_CHAIN.match(name) is None or any(part.lower() not in _CACHES for part in chain[:-1])):
        return None
    target = chain[-1]
    match = _URL.match(target)
    if match is None:  # "simplecache::data.jsonl": fsspec takes a bare target as a local path
        return target
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    try:
        cls = fsspec.get_filesystem_class(match["scheme"].lower())
    except (ImportError, ValueError):
        return None
    if not issubclass(cls, LocalFileSystem):
        return None
    return str(LocalFileSystem._strip_protocol(target))


def _is_protocol_chain(chain: list[str]) -> bool:
    """Whether ``a::b::c`` is fsspec's URL chaining rather than a file name holding ``::``."""
    from fsspec.registry import known_implementations

    return _CHAIN.match(chain[0] + "::") is not None and (
        chain[0].lower() in known_implementations or _URL.match(chain[-1]) is not None
    )


def outlives_build(url: str, error: type[SftmaskError]) -> bool:
    """Whether what is written to `url` is still there when the build's process has ended (not so
    for ``memory://``)."""
    from fsspec.implementations.memory import MemoryFileSystem

    fs, _ = filesystem(url, error)
    return not isinstance(fs, MemoryFileSystem)


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
    supervision.track("folder", folder)
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
        supervision.untrack("folder", folder)


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
