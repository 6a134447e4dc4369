"""What native code writes to this process's stderr, kept off the terminal while it is not sftmask's to show."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_aside(enabled: bool = True) -> Iterator[None]:
    """In this block, file descriptor 2 (where C++ and Rust code write: Ray's core logs its
    error-level lines there, and dumps a stack on signals) goes to the null device, while Python's
    `sys.stderr` (sftmask's messages, the progress bar, the log handlers writing to it) stays on
    the terminal, through a copy of the descriptor.

    Ray keeps those lines in its own logs (``/tmp/ray/session_latest/logs/python-core-driver-*.log``),
    so nothing is lost. Nothing happens when `enabled` is false or `sys.stderr` is not descriptor 2
    (tests capturing it).
    """
    try:
        ours = enabled and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a captured stream has no descriptor
        ours = False
    if not ours:
        yield
        return
    sys.stderr.flush()
    before = sys.stderr
    terminal = os.fdopen(os.dup(2), "w", encoding=before.encoding, errors=before.errors, buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler) and h.stream is before]
    for handler in handlers:
        handler.setStream(terminal)
    sys.stderr = terminal
    try:
        yield
    finally:
        terminal.flush()
        os.dup2(terminal.fileno(), 2)
        sys.stderr = before
        for handler in handlers:
            handler.setStream(before)
        terminal.close()
