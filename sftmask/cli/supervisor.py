"""`sftmask` answers Ctrl-C and SIGTERM within seconds, whatever its work is doing.

Python runs a signal handler only between two bytecodes of the main thread, so a build inside one
long C call (a chat template's ``10 ** n``, two lists compared that each hold one long list many
times) would ignore signals until the call ends, hours later. A thread does not help: the call
holds the GIL (a SIGTERM sent while another thread computed ``10 ** (4 * 10**7)`` was handled
266 s later). So `run` forks: the child runs the command, the parent only waits for it.

A SIGINT or SIGTERM to the parent (Ctrl-C reaches both) is passed on to the child, which normally
handles it itself (`stop_on_signals`): it tells the parent so (`sftmask.supervision.acknowledge`),
removes its temporary folder and lock, prints ``Interrupted; no output written.`` and exits 130
(143 for SIGTERM). A child that does not acknowledge within `ACK_SECONDS` is stuck: the parent
kills it, removes what it had announced (`sftmask.supervision.track`), prints the same line and
exits 130/143. A chat template rendering that runs `STUCK_SECONDS` past its time limit is stuck
in one C call the render limits cannot interrupt: the parent kills the child too, says so in one
line and exits 2. A child that dies of a signal the parent did not pass on (the out-of-memory
killer) is reported in one line and cleaned up the same way. The child dies with its parent
(Linux). ``SFTMASK_NO_SUPERVISOR=1`` runs commands in one process. Either way the `sftmask`
command ends without Python taking the interpreter apart (`_exit`: 0.08 s of a one-record build).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import mmap
import os
import select
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from sftmask import limits, supervision
from sftmask.cli import startup
from sftmask.errors import ConfigError

ACK_SECONDS = 2.0
"""A child that has not started handling a signal this long after it was sent is stuck in one C call."""
UNWIND_SECONDS = 60.0
"""A child that acknowledged a signal may take this long to clean up (stop workers, Ray) before it is killed."""
STUCK_SECONDS = 10.0
"""A rendering this long past its time limit (`sftmask.limits.RENDER_SECONDS`) is stuck in one C call."""
_POLL_SECONDS = 0.05
_STOPS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the work unwinds, removing its temporary directory."""


def stop_message(signum: int) -> str:
    """The line a build stopped by `signum` prints."""
    return f"{'Terminated' if signum == signal.SIGTERM else 'Interrupted'}; no output written."


_stopped_by: list[int] = []
"""The signal `_stop` handled (the exception it raised may not reach the command: Ray's `ray.get`
turns any KeyboardInterrupt raised while it waits into a new, plain one)."""


def stopped_by(exc: KeyboardInterrupt) -> int:
    """The signal that stopped the command with `exc`: the one `_stop` handled, else SIGINT
    (Ctrl-C, without the handler) or SIGTERM (`Terminated`) by the exception's type."""
    if _stopped_by:
        return _stopped_by[0]
    return signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT


def _stop(signum: int, frame: object) -> None:
    _stopped_by.append(signum)
    supervision.acknowledge()
    for sig in _STOPS:  # a second signal must not interrupt the cleanup (the supervisor can still kill)
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """In this block, SIGINT raises KeyboardInterrupt and SIGTERM `Terminated` (once: later ones are
    ignored while it unwinds), and the supervisor is told the signal is being handled."""
    _stopped_by.clear()
    previous = {sig: signal.signal(sig, _stop) for sig in _STOPS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _supervisable() -> bool:
    return hasattr(os, "fork") and hasattr(os, "waitstatus_to_exitcode") and not os.environ.get("SFTMASK_NO_SUPERVISOR")


def run(command: Callable[[], Any], *, exit_fast: bool = False) -> NoReturn:
    """Run `command` (the Typer app) in a child process and exit with its exit code (see the module
    docstring); without fork, in this process. The child ends with `_exit` (it has nothing of the
    caller's to run); this process too with `exit_fast` (the `sftmask` command: nothing calls it),
    else with `sys.exit` (a caller may catch SystemExit)."""
    if not _supervisable():
        _run_and_exit(command, exit_fast)
    received: list[int] = []
    # Installed before fork, so that no signal is lost in between (the child replaces them); a
    # signal ignored from the start (SIGINT of a background job) stays ignored in both.
    stops = [sig for sig in _STOPS if signal.getsignal(sig) is not signal.SIG_IGN]
    for sig in stops:
        signal.signal(sig, lambda signum, frame: received.append(signum))
    reading, writing = os.pipe()
    deadline = memoryview(mmap.mmap(-1, 8)).cast("d")  # shared with the child
    owner = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(reading)
        _die_with_parent(owner)
        supervision.connect(writing, owner, deadline)
        for sig in stops:
            signal.signal(sig, _stop)
        for signum in received:  # arrived between fork and here
            signal.raise_signal(signum)
        _run_and_exit(command, exit_fast=True)
    os.close(writing)
    startup.resume()  # this process only waits now, for as long as the work takes
    code = _supervise(pid, reading, received, deadline)
    if exit_fast:
        _exit(code)
    sys.exit(code)


def _run_and_exit(command: Callable[[], Any], exit_fast: bool) -> NoReturn:
    try:
        command()
    except SystemExit as exc:
        if exit_fast:
            _exit(exc.code)
        raise
    if exit_fast:
        _exit(0)
    sys.exit(0)


def _exit(code: str | int | None) -> NoReturn:
    """Exit as `sys.exit(code)` would, without taking the interpreter apart.

    After the atexit functions Python frees every module and object one by one, and the
    tokenizer's vocabulary: ~80 ms of a one-record build's child process, for a process that is
    ending. So the atexit functions run (logging's flush, Ray's and the workers' shutdown), then the
    Python and C standard streams are flushed, and the process ends. The usual exit when that
    could lose anything: another (non-daemon) thread still running, which Python would wait
    for, a stream that does not flush, an exit code that is not a number.
    """
    if code is None:
        code = 0
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if not isinstance(code, int) or others:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except Exception:  # e.g. a closed pipe: Python's own exit reports it
        sys.exit(code)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)  # what native code printed through C's stdio
    os._exit(code & 0xFF)  # as the OS truncates an exit status (-1 -> 255)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux; elsewhere it runs on)."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


class _Child:
    """What the parent knows of its child: what it announced, whether it handles a signal."""

    def __init__(self, pid: int, channel: int) -> None:
        self.pid = pid
        self.channel = channel
        self.leftovers: dict[tuple[str, str], None] = {}
        self.handling = False
        self._buffer = b""
        os.set_blocking(channel, False)

    def read(self, timeout: float) -> None:
        """Read what the child said, waiting up to `timeout` for it."""
        with contextlib.suppress(InterruptedError):
            select.select([self.channel], [], [], timeout)
        while True:
            try:
                data = os.read(self.channel, 65536)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                time.sleep(timeout)  # the child closed its end (it is exiting): nothing to wait on
                return
            self._buffer += data
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                self._note(json.loads(line))

    def _note(self, fields: list[str]) -> None:
        if fields[0] == "handling":
            self.handling = True
        elif fields[0] == "track":
            self.leftovers[(fields[1], fields[2])] = None
        elif fields[0] == "untrack":
            self.leftovers.pop((fields[1], fields[2]), None)

    def clean_up(self) -> None:
        """Remove what the (dead) child left behind."""
        for kind, path in reversed(self.leftovers):
            if kind == "folder":
                shutil.rmtree(path, ignore_errors=True)
            elif kind == "output":
                from sftmask.io.output_dir import OutputDir

                OutputDir(path, overwrite=False).remove_killed()
        self.leftovers.clear()


def _supervise(pid: int, channel: int, received: list[int], rendering: memoryview[float]) -> int:
    """Wait for the child `pid`, passing signals on and killing it when it is stuck; its exit code."""
    child = _Child(pid, channel)
    forwarded = 0
    deadline: float | None = None
    killed_for: int | None = None
    stuck = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if len(received) > forwarded:
            if forwarded == 0:
                os.kill(pid, received[0])  # Ctrl-C reached the child too: it ignores the second one
                deadline = time.monotonic() + ACK_SECONDS
            else:  # asked again: stop now
                deadline = 0.0
            forwarded = len(received)
        child.read(_POLL_SECONDS)
        if deadline is not None and child.handling and deadline > 0:
            deadline = max(deadline, time.monotonic() + UNWIND_SECONDS)
            child.handling = False  # extend once
        stuck = 0 < rendering[0] < time.monotonic() - STUCK_SECONDS and deadline is None
        if stuck or (deadline is not None and time.monotonic() > deadline):
            killed_for = None if stuck else received[0]
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
    child.read(0)
    code = os.waitstatus_to_exitcode(status)
    left = bool(child.leftovers)
    child.clean_up()
    if stuck:
        sys.stderr.write(
            f"Error: the chat template ran past its {limits.RENDER_SECONDS:g} s limit inside one operation that "
            "cannot be interrupted (a very large number, or lists that hold one long list many times?), so "
            "sftmask stopped; fix the template; no output written\n"
        )
        return ConfigError.exit_code
    if killed_for is None and received and code == -received[0]:
        killed_for = received[0]  # the signal passed on killed it (it did not handle it)
    if killed_for is not None:
        sys.stderr.write(stop_message(killed_for) + "\n")
        return 128 + killed_for
    if code < 0:  # killed by a signal nobody passed on through this process
        sys.stderr.write(f"Error: {_died(-code)}{'; no output written' if left else ''}\n")
        return 128 - code
    return code


def _died(signum: int) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    hints = {int(signal.SIGKILL): " (by the out-of-memory killer?)", int(signal.SIGSEGV): " (a crash)"}
    hint = hints.get(signum, "")
    return f"sftmask's work process was killed by {name}{hint}"
