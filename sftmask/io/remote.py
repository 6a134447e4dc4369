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


def in_archive(url: str) -> bool:
    """Whether `url` names a path inside an archive (``zip://``, ``tar://``, ``zip::...``): fsspec
    reads archives but does not write them in place."""
    import fsspec
    from fsspec.archive import AbstractArchiveFileSystem

    first = url.split("::", 1)[0]
    match = _URL.match(first)
    try:
        cls = fsspec.get_filesystem_class((match["scheme"] if match else first).lower())
    except (ImportError, ValueError):
        return False
    return issubclass(cls, AbstractArchiveFileSystem)


def outlives_build(url: str, error: type[SftmaskError]) -> bool:
    """Whether what is written to `url` is still there when the build's process has ended (not so
    for ``memory://``)."""
    from fsspec.implementations.memory import MemoryFileSystem

    fs, _ = filesystem(url, error)
    return not isinstance(fs, MemoryFileSystem)


def filesystem(url: str, error: type[SftmaskError]) -> tuple[Any, str]:
    """The fsspec filesystem for `url` and the path inside it (S3 and HTTP with `CONNECT_SECONDS` and
    `READ_SECONDS` timeouts, unless fsspec's configuration sets them).

    Raises:
        error: the protocol is unknown, the package that implements it is not installed, or the
            filesystem cannot be set up (an FTP server that refuses the connection, ``dir://``
            without a target...).
    """
    import fsspec.core

    scheme = url.split("://", 1)[0].split("::", 1)[0].lower()
    try:
        fs, path = fsspec.core.url_to_fs(url, **_timeouts(url))
    except ImportError as exc:
        package = _PACKAGES.get(scheme) or _missing_module(exc) or f"the fsspec package for {scheme}://"
        raise error(
            f"{url}: reading or writing {scheme}:// paths needs {package}; install it with: pip install {package}"
        ) from exc
    except ValueError as exc:  # "Protocol not known"
        raise error(f"{url}: {_first_line(exc)}") from exc
    except OSError as exc:  # the filesystem's constructor connects (FTP), opens an archive...
        raise error(f"{url}: {_what_happened(exc)}") from exc
    except Exception as exc:  # ... or trips on its arguments (``dir://x``: no target)
        raise error(
            f"{url}: fsspec cannot open this URL ({type(exc).__name__}: {_first_line(exc)}); check its form "
            "(a chained URL is written inner::outer, e.g. zip://a.jsonl::s3://bucket/x.zip)"
        ) from exc
    return fs, str(path)


CONNECT_SECONDS = 10
"""How long connecting to an S3 or HTTP endpoint may take."""
READ_SECONDS = 30
"""How long an S3 or HTTP endpoint may leave a request without an answer, once connected."""
FIRST_ANSWER_SECONDS = 20
"""How long the first request of a command (does the input, or the output, exist?) may take on
an asynchronous filesystem (S3, HTTP, GCS...) retries included: an endpoint that never answers
fails in seconds, not after minutes of retries."""


def _timeouts(url: str) -> dict[str, Any]:
    """Storage options giving S3 and HTTP filesystems in `url` finite timeouts (keyed by protocol,
    as fsspec takes them for chained URLs), where fsspec's configuration sets none."""
    from fsspec.config import conf

    options: dict[str, Any] = {}
    for part in url.split("::"):
        match = _URL.match(part)
        protocol = (match["scheme"] if match else part).lower()
        configured = conf.get(protocol, {})
        if protocol in ("s3", "s3a") and "config_kwargs" not in configured:
            options[protocol] = {"config_kwargs": {"connect_timeout": CONNECT_SECONDS, "read_timeout": READ_SECONDS}}
        elif protocol in ("http", "https") and "client_kwargs" not in configured:
            try:
                import aiohttp
            except ImportError:  # filesystem() names the package to install
                continue
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_SECONDS, sock_read=READ_SECONDS)
            options[protocol] = {"client_kwargs": {"timeout": timeout}}
    return options


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """`exc` and the exceptions behind it, each one's cause (or else its context) next."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def _missing_module(exc: BaseException) -> str | None:
    """The top-level name of the module whose import failed behind `exc` (``aiohttp``), if any."""
    for seen in _chain(exc):
        if isinstance(seen, ModuleNotFoundError) and seen.name:
            return seen.name.split(".", 1)[0]
    return None


def answer_in_time(fs: Any, method: str, *args: Any) -> Any:
    """``fs.method(*args)``, given `FIRST_ANSWER_SECONDS` on an asynchronous filesystem (fsspec
    cancels the request then and raises `FSTimeoutError`, which `remote_errors` explains)."""
    from fsspec.asyn import AsyncFileSystem

    call = getattr(fs, method)
    return call(*args, timeout=FIRST_ANSWER_SECONDS) if isinstance(fs, AsyncFileSystem) else call(*args)


def expand(pattern: str, error: type[SftmaskError]) -> list[tuple[str, int | None]]:
    """The files a remote path or glob names, in sorted order, as (URL, size in bytes).

    Raises:
        error: nothing matches, a match is a directory, or the filesystem refuses (credentials,
            permissions, an unreachable endpoint): one line, with the filesystem's reason.
    """
    fs, path = filesystem(pattern, error)
    # A chained URL (``zip://a.jsonl::s3://b/x.zip``) names its files with the rest of its chain.
    chain = "::" + pattern.split("::", 1)[1] if "::" in pattern else ""
    with remote_errors(pattern, error):
        fs.invalidate_cache()
        if any(ch in path for ch in "*?["):
            answer_in_time(fs, "exists", _static_prefix(path))  # the endpoint answers at all
            paths = sorted(fs.glob(path))
            if not paths:
                raise error(f"no file matches {pattern!r}")
            infos = [fs.info(name) for name in paths]
        else:
            paths, infos = [path], [answer_in_time(fs, "info", path)]
        found = []
        for name, info in zip(paths, infos, strict=True):
            if info.get("type") != "file":
                raise error(f"{fs.unstrip_protocol(name)}{chain}: not a file")
            found.append((fs.unstrip_protocol(name) + chain, info.get("size")))
    return found


def local_source(name: str) -> str | None:
    """The file on this machine that a chained URL reads from (the archive of
    ``zip://a.jsonl::file:///data/x.zip``), or None."""
    if "::" not in name or not is_remote(name):
        return None
    return local_target(name.rsplit("::", 1)[1])


def _static_prefix(path: str) -> str:
    """The folder of a glob before its first wildcard (``bucket/data`` of ``bucket/data/*.jsonl``)."""
    head = path[: min(path.index(ch) for ch in "*?[" if ch in path)]
    return head.rsplit("/", 1)[0] if "/" in head else head


def file_part(name: str) -> str:
    """The part of an input's name that names the file (what its suffixes say): a chained URL's
    first link (``zip://a.jsonl`` of ``zip://a.jsonl::s3://b/x.zip``), an HTTP URL without its
    query and fragment (a signed ``https://host/x.jsonl.gz?X-Amz-Signature=...``), else the name."""
    if "::" in name and is_remote(name):
        return name.split("::", 1)[0]
    if name.startswith(("http://", "https://")):
        return name.split("#", 1)[0].split("?", 1)[0]
    return name


def open_input(url: str, error: type[SftmaskError]) -> IO[bytes]:
    """`url` opened for reading as bytes. What its filesystem raises while reading (botocore,
    aiohttp, ... errors) comes out as `OSError`, as a local file's read errors do."""
    fs, path = filesystem(url, error)
    with remote_errors(url, error):
        stream = fs.open(path, "rb", block_size=1 << 22)
    return io.BufferedReader(_OSErrors(stream, fs), buffer_size=1 << 20)


class _OSErrors(io.RawIOBase):
    """A remote file whose read errors are `OSError`s (with the library's error type named)."""

    def __init__(self, raw: Any, fs: Any) -> None:
        self.raw = raw
        self.fs = fs  # an archive's filesystem closes the archive when it is collected

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self.raw.seekable())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """(A part of a big input is read from its first byte: `readers.parts`.)"""
        return int(self.raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self.raw.tell())

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
            if not answer_in_time(fs, "exists", root):
                raise error(f"{url}: no such directory")
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
    into one `error` line naming `url` that says what happened."""
    try:
        yield
    except SftmaskError:
        raise
    except FileNotFoundError as exc:
        cause = _connection_problem(exc.__cause__ or exc.__context__)
        status = _http_status(exc.__cause__ or exc.__context__)  # fsspec's HTTP: any refusal is "not found"
        said = _what_happened(cause) if cause is not None else status or "no such file"
        raise error(f"{url}: {said}") from exc
    except PermissionError as exc:
        raise error(f"{url}: permission denied: {_first_line(exc)}") from exc
    except Exception as exc:  # botocore, aiohttp, gcsfs...: each library has its own exception types
        raise error(f"{url}: {_what_happened(exc)}") from exc


_CONNECTION_ERRORS = frozenset(
    {"ConnectionError", "ClientConnectionError", "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"}
)
"""Exception class names (builtin, aiohttp, botocore) of a failed connection or request."""
_CANNOT_CONNECT = frozenset(
    {"ConnectionRefusedError", "ClientConnectorError", "EndpointConnectionError", "ConnectTimeoutError"}
)
"""Those that say the endpoint could not be reached at all."""


def _connection_problem(exc: BaseException | None) -> BaseException | None:
    """The connection failure or timeout in `exc`'s chain, if any (fsspec's HTTP filesystem turns
    "connection refused" into FileNotFoundError)."""
    for seen in _chain(exc):
        names = {cls.__name__ for cls in type(seen).__mro__}
        if isinstance(seen, TimeoutError) or names & _CONNECTION_ERRORS:
            return seen
    return None


def _http_status(exc: BaseException | None) -> str | None:
    """What an HTTP server answered other than 404, from aiohttp's error in `exc`'s chain."""
    for seen in _chain(exc):
        status = getattr(seen, "status", None)
        if type(seen).__name__ == "ClientResponseError" and isinstance(status, int) and status != 404:
            return f"the server answered HTTP {status} {getattr(seen, 'message', '') or ''}".rstrip()
    return None


_READ_TIMEOUTS = frozenset({"ServerTimeoutError", "SocketTimeoutError", "ReadTimeoutError"})
"""Exception class names (aiohttp, botocore) of a connection that stopped sending."""


def read_failure(exc: BaseException) -> str:
    """What a read that failed midway says: a connection that stopped sending, or the error's own
    text (its type when it has none)."""
    from fsspec.exceptions import FSTimeoutError

    for seen in _chain(exc):
        if isinstance(seen, FSTimeoutError) or type(seen).__name__ in _READ_TIMEOUTS:
            return f"no data for {READ_SECONDS} s: the connection stalled ({_first_line(seen.__cause__ or seen)})"
    return str(exc).strip() or type(exc).__name__


def _what_happened(exc: BaseException) -> str:
    """One line on a filesystem's failure: a timeout, a refused connection, missing credentials,
    or the library's own exception."""
    from fsspec.exceptions import FSTimeoutError

    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, FSTimeoutError):
        return (
            f"no answer within {FIRST_ANSWER_SECONDS} s; is the endpoint right (for S3: AWS_ENDPOINT_URL_S3) "
            "and reachable from here?"
        )
    if "NoCredentialsError" in names:
        return (
            "no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), "
            "or write them in ~/.aws/credentials; a public bucket needs none: set FSSPEC_S3_ANON=true"
        )
    if names & _CANNOT_CONNECT:
        return f"cannot connect: {type(exc).__name__}: {_first_line(exc)}"
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
