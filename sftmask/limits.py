"""Size limits on what sftmask loads (config files, templates) and on the error messages it writes,
and time and memory limits on running a chat template (`render_limit`, and the sizes
`sftmask.chat.bounds` checks before an operation of a template runs)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

from sftmask import supervision
from sftmask.errors import SftmaskError

if TYPE_CHECKING:
    import mmap

MAX_TEXT_FILE_BYTES = 1 << 20
"""Config files, prompt templates and chat templates are small: more is refused before parsing."""
MAX_MESSAGE_CHARS = 2000
"""Error messages longer than this (they may quote record data) are cut."""
RENDER_SECONDS = 10.0
"""A chat template rendering one conversation for longer than this is stopped (real templates take
milliseconds; a `range` nested in `range` runs for hours)."""
RENDER_MEMORY_BYTES = 2 << 30
"""A chat template whose rendering grows the process by more than this is stopped (`'x' * 10**9`
kept in a list); one operation of a template may not make a value larger than this
(`sftmask.chat.bounds`), and while it renders the process may not map more than twice this
beyond what it had (an allocation past that fails at once with MemoryError)."""
RENDER_INT_BITS = 1 << 18
"""Integers a chat template computes with `**` and `*` are refused past this many bits (checked
before the operation runs): the slowest operation on two such numbers takes milliseconds, while
`10 ** 10**9` alone runs for hours inside one C call, where nothing can stop it."""
RENDER_TIMEOUTS_IN_A_ROW = 3
"""After this many renderings in a row stopped for time, the build stops: the template is the
problem, not the data (the time limit is per rendering; 100,000 records would take days)."""
CHECK_SECONDS = 120.0
"""`sftmask template check` stops after this long (real templates check 120 conversations in
seconds)."""


ENCODE_BYTES_PER_BYTE = 200
"""Memory a tokenizer takes to encode a text whole, per UTF-8 byte of the text: offsets, and
alignments per byte in its normalized string (`bench/encode_memory.py`: 45 to 174 on the test
tokenizers, growing with the text; 200 leaves room)."""
ENCODE_MEMORY_SHARE = 0.5
"""The share of this machine's memory that one text encoded whole may take."""


@dataclass(frozen=True)
class MemoryBudget:
    """How much memory one text may take to tokenize: a record that would need more is rejected
    before it is tokenized (the tokenizer's allocation failing aborts the process in Rust)."""

    bytes: int
    source: str
    """Where the figure comes from, for messages (``half of this machine's 23.4 GiB``)."""

    @property
    def text_bytes(self) -> int:
        """The most UTF-8 bytes of text that fit."""
        return self.bytes // ENCODE_BYTES_PER_BYTE

    def problem(self, chars: int, text: Callable[[], int]) -> str | None:
        """Why `chars` characters (of `text()` UTF-8 bytes, counted only when it matters) do not
        fit, or None."""
        if 4 * chars <= self.text_bytes:  # even at 4 bytes a character
            return None
        size = text()
        if size <= self.text_bytes:
            return None
        need = size * ENCODE_BYTES_PER_BYTE
        return (
            f"{chars:,} characters ({size:,} bytes of UTF-8) need about {need / 2**30:,.1f} GiB to tokenize whole, "
            f"more than {self.bytes / 2**30:,.1f} GiB ({self.source}; checked before tokenizing); pass --max-length "
            "(a long text is then encoded only as far as its row keeps), or split the record"
        )


def memory_budget(workers: int = 1) -> MemoryBudget | None:
    """`ENCODE_MEMORY_SHARE` of the memory this process may use, shared by `workers` processes
    tokenizing at once; None when it is unknown."""
    memory = machine_memory()
    if memory is None:
        return None
    total, what = memory
    source = f"{'half' if ENCODE_MEMORY_SHARE == 0.5 else ENCODE_MEMORY_SHARE} of {what} {total / 2**30:,.1f} GiB"
    if workers > 1:
        source += f", shared by {workers} --num-proc workers"
    return MemoryBudget(int(total * ENCODE_MEMORY_SHARE) // max(1, workers), source)


def machine_memory() -> tuple[int, str] | None:
    """The memory this process may use, and what limits it: the machine's physical memory, or
    less under a cgroup (container) limit or an address-space limit (``ulimit -v``)."""
    found: list[tuple[int, str]] = []
    with contextlib.suppress(AttributeError, ValueError, OSError):  # no sysconf, or no such name
        found.append((os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's"))
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # "max", or v1's huge number: no limit
            found.append((int(text), "the container's"))
    if resource is not None:
        soft, _ = _capped or resource.getrlimit(resource.RLIMIT_AS)  # not a rendering's passing cap
        if soft != resource.RLIM_INFINITY:
            found.append((soft, "the address-space limit (ulimit -v) of"))
    return min(found) if found else None


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


@functools.cache
def _no_alias_loader() -> Any:
    """The YAML loader class (yaml is imported when a file is first read: most builds read none)."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        """YAML without anchors' aliases: a few lines of nested aliases expand to gigabytes."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed in sftmask files", event.start_mark
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def load_yaml(text: str) -> Any:
    """`yaml.safe_load` without aliases.

    Raises:
        yaml.YAMLError: not valid YAML, or it uses an alias.
    """
    import yaml

    return yaml.load(text, Loader=_no_alias_loader())


def clip(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`message`, cut to `limit` characters (saying how long it was)."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}... ({len(message):,} characters in all)"


class RenderLimitExceeded(Exception):
    """Raised inside a `render_limit` block that ran past its time or memory limit."""


class RenderTimeExceeded(RenderLimitExceeded):
    """The block ran longer than its time limit."""


class RenderMemoryExceeded(RenderLimitExceeded):
    """The process grew by more than the block's memory limit (or an allocation failed)."""


class RenderSizeExceeded(RenderLimitExceeded):
    """An operation would make a value larger than the render limits allow (refused before it ran)."""


@dataclass
class _Watched:
    deadline: float
    memory_limit: int
    fired: bool = False


_watched: dict[int, _Watched] = {}
_lock = threading.Lock()
_watchdog: threading.Thread | None = None
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _after_fork() -> None:
    global _lock, _watchdog, _capped
    _lock, _watchdog = threading.Lock(), None  # the parent's watchdog (and a lock it held) is not here
    _watched.clear()
    if _capped is not None:  # forked while another thread rendered: the cap is not this process's
        _set_address_limit(_capped)
        _capped = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _statm() -> tuple[int, int]:
    """The process's mapped (virtual) and resident sizes in bytes; (0, 0) without /proc."""
    try:
        with open("/proc/self/statm", "rb") as f:
            fields = f.read().split()
        return int(fields[0]) * _PAGE, int(fields[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0, 0  # no /proc: the time limit still applies


def _resident_bytes() -> int:
    return _statm()[1]


_capped: tuple[int, int] | None = None
"""The address-space limit (soft, hard) that rendering replaced, while some block holds the cap."""


def _set_address_limit(limit: tuple[int, int]) -> bool:
    try:
        resource.setrlimit(resource.RLIMIT_AS, limit)
    except (ValueError, OSError):  # not supported here (macOS), or above the hard limit
        return False
    return True


def _cap_address_space(ceiling: int) -> None:
    """Make allocations past `ceiling` bytes of address space fail with MemoryError (called with
    `_lock` held). One C call of a template (`'x' * n`, `list(s)`, repr of a list that holds a
    long string many times) fills memory before the watchdog can look; under the cap it fails at
    once instead of filling the machine. Other threads share the cap while a block runs."""
    global _capped
    if _capped is not None or resource is None or ceiling <= 0:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    if (soft == resource.RLIM_INFINITY or ceiling < soft) and _set_address_limit((ceiling, hard)):
        _capped = (soft, hard)


def _uncap_address_space() -> None:
    """Undo `_cap_address_space` once no block runs (called with `_lock` held)."""
    global _capped
    if not _watched and _capped is not None and _set_address_limit(_capped):
        _capped = None


def settle() -> None:
    """Lift the address-space cap if no block runs, in any thread; call it where this thread runs
    none. A block whose end could not lift the cap (a MemoryError as it ended, with the memory
    still held by the exception) leaves it on: the next block, or this, lifts it."""
    with _lock:
        _watched.pop(threading.get_ident(), None)  # this thread is in no block: a stale entry
        _uncap_address_space()


def _peak_resident_bytes() -> int:
    """The process's peak resident size so far (an upper bound of `_resident_bytes`)."""
    if resource is None:
        return 1 << 62  # unknown: always read the current size
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


RESERVE_BYTES = 16 << 20
"""Address space a render block holds in reserve and frees first when it ends (`render_limit`)."""


def _reserve() -> mmap.mmap | None:
    """`RESERVE_BYTES` of address space and nothing else: a private read-only mapping that is never
    touched takes no memory and no commit charge, costs two system calls, and gives its address
    space back when dropped. (A bytearray zeroes 16 MiB at every rendering, 0.3 ms, and once
    malloc's threshold has grown past it comes from the heap, where freeing it unmaps nothing.)"""
    if resource is None:  # no address-space cap here: nothing to make room under
        return None
    import mmap  # here: only chat builds render, and other builds do not import it

    try:
        return mmap.mmap(-1, RESERVE_BYTES, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
    except (OSError, ValueError):  # no address space left (a cap from outside): the block runs without
        return None


_SET_ASYNC_EXC = ctypes.pythonapi.PyThreadState_SetAsyncExc
"""Looked up once: an attribute of ``ctypes.pythonapi`` is found by a Python method the first time."""


def _interrupt(thread_id: int, exc: type[BaseException] | None) -> None:
    # Raised in that thread at its next bytecode (a running C call finishes first); None clears it.
    _SET_ASYNC_EXC(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


def _watch() -> None:
    while True:
        time.sleep(0.02)
        with _lock:
            if not _watched:
                continue
            now, resident = time.monotonic(), _resident_bytes()
            for thread_id, watched in _watched.items():
                if not watched.fired and (now > watched.deadline or resident > watched.memory_limit):
                    watched.fired = True
                    _interrupt(thread_id, RenderTimeExceeded if now > watched.deadline else RenderMemoryExceeded)


@contextmanager
def render_limit(seconds: float | None = None, memory_bytes: int | None = None) -> Iterator[None]:
    """Stop the code in this block (by raising `RenderTimeExceeded` or `RenderMemoryExceeded` in it) when it runs longer than
    `seconds` or the process grows by more than `memory_bytes` meanwhile (defaults: `RENDER_SECONDS`,
    `RENDER_MEMORY_BYTES`). A watchdog thread checks every 20 ms, and the block is measured once more
    when it ends; blocks in other threads are watched each on its own (blocks do not nest). While
    the block runs, mapping more than twice `memory_bytes` beyond what the process had fails with
    MemoryError (`_cap_address_space`).

    The watchdog raises between two bytecodes: one C call (``10 ** n``) runs to its end first,
    which is why `sftmask.chat.bounds` sizes such operations before they run, and why the CLI
    runs its work in a child process it can kill (`sftmask.cli.supervisor`).
    """
    global _watchdog
    thread_id = threading.get_ident()
    limit = RENDER_MEMORY_BYTES if memory_bytes is None else memory_bytes
    # Address space given back first when the block ends: a template that filled the cap leaves
    # none, and lifting the cap needs a little (its memory is freed only when the caller drops
    # the exception).
    reserve = _reserve()
    mapped, resident = _statm()
    watched = _Watched(time.monotonic() + (RENDER_SECONDS if seconds is None else seconds), resident + limit)
    with _lock:
        _watched.pop(thread_id, None)  # a stale entry: this thread is in no block until now
        _uncap_address_space()
        _watched[thread_id] = watched
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watch, name="sftmask-render-limit", daemon=True)
            _watchdog.start()
        _cap_address_space(mapped + 2 * limit if mapped else 0)
    try:
        supervision.rendering(watched.deadline)
        yield
    finally:
        del reserve  # unmapped at once (no allocation, no call): room for what follows
        # The watchdog's exception is raised at this thread's next Python call or loop: once the
        # block has ended it must not land in the middle of what follows (the address-space cap
        # would stay on for good). Only C calls until it can no longer fire and is cleared.
        with _lock:
            if _watched.get(thread_id) is watched:
                del _watched[thread_id]
        if watched.fired:  # not raised yet (the block ended first): never raise it outside
            _SET_ASYNC_EXC(ctypes.c_ulong(thread_id), None)
        with _lock:
            _uncap_address_space()  # the last block to end lifts the cap
        supervision.rendering(0.0)
    # The watchdog polls: a block that ended between two of its checks (one large allocation, then
    # done) is measured once more here, so the limits hold whatever the timing. The peak resident
    # size bounds the current one and costs one system call, not a file read: /proc is read only
    # when the peak passed the limit.
    if _peak_resident_bytes() > watched.memory_limit and _resident_bytes() > watched.memory_limit:
        raise RenderMemoryExceeded
    if time.monotonic() > watched.deadline:
        raise RenderTimeExceeded
