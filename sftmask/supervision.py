"""This process and the `sftmask` process that supervises it (`sftmask.cli.supervisor`).

The CLI runs each command in a child process that its parent can kill: one C call (a chat
template's operation) can hold the interpreter for hours, and no signal handler runs meanwhile.
The child tells its parent, over a pipe, what it would leave behind if it were killed (an output
directory's temporary folder and lock, a staging folder) and that it is handling a signal itself;
the parent cleans up only when it had to kill the child. In a shared slot of memory it keeps the
deadline of the chat template rendering under way (`sftmask.limits.render_limit`), so that the
parent can end a rendering stuck in one C call past it. Without a parent (the library called
from Python, tests in one process) these calls do nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Literal

Leftover = Literal["output", "folder"]
"""``output``: an output directory whose lock this process holds (`sftmask.io.output_dir.OutputDir`);
``folder``: a temporary folder to remove."""

_channel: int | None = None
_owner: int | None = None
_deadline: memoryview[float] | None = None


def connect(channel: int, owner: int, deadline: memoryview[float]) -> None:
    """Report to the supervisor `owner` (a pid) on the pipe `channel`, and the rendering deadline in
    `deadline` (one float in memory shared with it; called in the child)."""
    global _channel, _owner, _deadline
    _channel, _owner, _deadline = channel, owner, deadline


def _disconnect() -> None:
    global _channel, _owner, _deadline
    _channel = _owner = _deadline = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_disconnect)  # a forked process reports nothing of its own


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie, waiting to be reaped, has ended too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def owner_pid() -> int:
    """The pid a user knows this work by: its supervising `sftmask` process's, else this process's
    (it names a build's temporary folder and stands in its lock)."""
    return os.getpid() if _owner is None else _owner


def _send(*fields: str) -> None:
    if _channel is None:
        return
    with contextlib.suppress(OSError):  # the supervisor is gone (killed): nobody to tell
        os.write(_channel, json.dumps(fields).encode() + b"\n")


def track(kind: Leftover, path: str | Path) -> None:
    """Tell the supervisor that `path` is left behind should this process be killed now."""
    _send("track", kind, str(path))


def untrack(kind: Leftover, path: str | Path) -> None:
    """Tell the supervisor that `path` (given to `track`) is no longer left behind."""
    _send("untrack", kind, str(path))


def rendering(deadline: float) -> None:
    """A chat template rendering started that must end by `deadline` (`time.monotonic()`); 0: it ended."""
    if _deadline is not None:
        _deadline[0] = deadline


def acknowledge() -> None:
    """Tell the supervisor that this process handles the signal it got (it is not stuck in a C call)."""
    _send("handling")
