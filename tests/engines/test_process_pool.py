"""`engines.process_pool.ordered_map` when a worker dies at the worst moment (real worker processes)."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sftmask.engines.process_pool import _job_file, ordered_map


def _nothing() -> None:
    pass


def _die_sending_half_a_result(item: int) -> int:
    """Item 3: write the start of a 1 MiB result message to the executor's result pipe, then die
    (as a worker killed while sending a large batch does); other items: the item."""
    if item != 3:
        return item
    result_queue = multiprocessing.current_process()._args[1]  # type: ignore[attr-defined]
    result_queue._wlock.acquire()
    os.write(result_queue._writer.fileno(), struct.pack("!i", 1 << 20) + b"\x80" * 100)
    os.kill(os.getpid(), signal.SIGKILL)
    return item


def half_a_result() -> None:
    """Run in a subprocess: print the results, then the error."""
    try:
        for result in ordered_map(
            _die_sending_half_a_result, range(8), workers=2, initializer=_nothing, initargs=(), threads_per_worker=1
        ):
            print(result, flush=True)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", flush=True)


@pytest.mark.slow
def test_a_worker_dying_halfway_through_a_result_is_worker_died_in_seconds() -> None:
    """The executor's thread waits forever for the rest of a half-sent result (CPython 3.11), and
    the build waited forever for that thread (issue 24)."""
    started = time.monotonic()
    code = "from tests.engines.test_process_pool import half_a_result; half_a_result()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[:3] == ["0", "1", "2"]
    assert result.stdout.splitlines()[-1].startswith("WorkerDied: a --num-proc worker process died")
    assert result.returncode == 0 and result.stderr == ""  # no traceback of the executor's thread
    assert time.monotonic() - started < 60


def test_job_files_of_dead_builds_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build killed with kill -9 leaves its job file; the next build with workers removes it."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"sftmask-job-{int(dead.stdout)}-abc.pickle"
    alive = tmp_path / f"sftmask-job-{os.getpid()}-def.pickle"  # a build running now
    stale.write_bytes(b"x")
    alive.write_bytes(b"x")
    with _job_file({"a": 1}) as path:  # type: ignore[arg-type]
        assert path.parent == tmp_path and pickle.loads(path.read_bytes()) == {"a": 1}
    assert not path.exists() and not stale.exists() and alive.exists()
