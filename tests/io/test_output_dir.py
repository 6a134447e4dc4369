"""The output directory's lock (sftmask.io.output_dir.OutputDir)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sftmask.errors import OutputError
from sftmask.io.output_dir import OutputDir

# Holds the lock of output DIR as a build's work process does, under the pid of the `sftmask`
# process that supervised it (argv[2]), and lets it go after argv[3] seconds.
HOLD = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, (sys.argv[2] + "\\n").encode())
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
    """
)


def _hold(out: Path, pid: int, seconds: float) -> subprocess.Popen[str]:
    lock = out.parent / f".{out.name}.sftmask-lock-file"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), str(pid), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def _ended_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="flock and /proc")
def test_the_lock_of_a_killed_build_is_waited_for_while_its_work_process_ends(tmp_path: Path) -> None:
    # `kill -9` of a build's `sftmask` process: the kernel ends its work process (which holds the
    # lock) a moment later. A build started in that moment waits for it instead of failing.
    out = tmp_path / "o"
    holder = _hold(out, _ended_pid(), 0.5)
    start = time.monotonic()
    with OutputDir(out, overwrite=False) as opened:
        assert opened.tmp.is_dir()
    assert 0.2 < time.monotonic() - start < 5
    holder.wait(timeout=10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="flock and /proc")
def test_the_lock_of_a_running_build_is_refused_at_once(tmp_path: Path) -> None:
    out = tmp_path / "o"
    holder = _hold(out, os.getpid(), 30)  # this process stands for the running build's `sftmask`
    try:
        start = time.monotonic()
        with pytest.raises(OutputError, match=rf"being written by another sftmask build \(pid {os.getpid()}\)"):
            OutputDir(out, overwrite=False).__enter__()
        assert time.monotonic() - start < 1
    finally:
        holder.kill()
        holder.wait()
