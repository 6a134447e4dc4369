"""`sftmask build --engine ray` as a user runs it (a real process): Ctrl-C and SIGTERM end it
with 130/143, "no output written" and nothing left behind (no temporary folder, no Ray process);
an unreachable --ray-address fails in seconds; Ray's own log lines stay off the terminal (issue 24)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOKENIZER = REPO / "sample_data" / "tokenizer"

pytest.importorskip("ray")


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """Ray's temporary root for one test (RAY_TMPDIR): every Ray process the build starts names it in
    its command line. Short, for Ray's socket paths (at most 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="sr-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _sftmask(*args: str, ray_tmp: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    return subprocess.Popen(
        [sys.executable, "-m", "sftmask", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # Ctrl-C reaches every process of the terminal's foreground group: a group of its own here.
        start_new_session=True,
    )


def _ray_processes(ray_tmp: Path) -> list[str]:
    """Live processes whose command line names the test's Ray folder (raylet, GCS, workers)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(ray_tmp) in cmdline and state not in ("Z", "X"):
            found.append(cmdline[:120])
    return found


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _big_input(folder: Path) -> Path:
    data = folder / "in.jsonl"
    with data.open("w") as f:
        for i in range(20000):
            f.write(
                json.dumps({"prompt": f"Question {i}: " + "words " * 40, "response": f"Answer {i}. " + "more " * 40})
            )
            f.write("\n")
    return data


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    ("sig", "group", "code", "word"),
    [
        (signal.SIGTERM, False, 143, "Terminated"),  # kill PID, as a job scheduler does
        (signal.SIGINT, True, 130, "Interrupted"),  # Ctrl-C: the whole foreground process group
    ],
)
def test_a_signal_ends_a_ray_build_like_a_local_one(
    tmp_path: Path, ray_tmp: Path, sig: int, group: bool, code: int, word: str
) -> None:
    data = _big_input(tmp_path)
    out = tmp_path / "o"
    proc = _sftmask("build", str(data), "-t", str(TOKENIZER), "-o", str(out), "--engine", "ray", ray_tmp=ray_tmp)
    try:
        _wait_for(lambda: list(tmp_path.glob(".o.sftmask-tmp-*/*.partial")) or proc.poll() is not None, 240)
        assert proc.poll() is None, proc.communicate()  # labelling and writing: Ray is up
        sent = time.monotonic()
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    took = time.monotonic() - sent
    # Before: SIGTERM ran Ray's handler (sys.exit) and its C++ stack dump; Ray's log lines on stderr.
    assert (proc.returncode, stderr) == (code, f"{word}; no output written.\n")
    assert took < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no temporary folder, no lock
    _wait_for(lambda: not _ray_processes(ray_tmp), 30)


@pytest.mark.slow
def test_a_successful_ray_build_prints_no_ray_log_lines(tmp_path: Path, ray_tmp: Path) -> None:
    """Ray's core logs at error level on builds that succeed (an actor's constructor arguments in
    the object store) and Ray notes token authentication: neither is the user's business."""
    data = REPO / "sample_data" / "instructions.jsonl"
    proc = _sftmask(
        "build", str(data), "-t", str(TOKENIZER), "-o", str(tmp_path / "o"), "--engine", "ray", ray_tmp=ray_tmp
    )
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert stderr == "" and stdout.startswith("wrote 300 rows")
    _wait_for(lambda: not _ray_processes(ray_tmp), 30)


@pytest.mark.slow
@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_an_unreachable_ray_address_fails_in_seconds(tmp_path: Path, ray_tmp: Path, address: str) -> None:
    data = REPO / "sample_data" / "instructions.jsonl"
    out = tmp_path / "o"
    started = time.monotonic()
    proc = _sftmask(
        "build", str(data), "-t", str(TOKENIZER), "-o", str(out), "--engine", "ray", "--ray-address", address,
        ray_tmp=ray_tmp,
    )  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=60)  # before: Ray retried for minutes, silently
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert time.monotonic() - started < 30
    assert proc.returncode == 2
    assert stderr.count("\n") == 1 and stderr.startswith(
        f"Error: cannot reach the Ray cluster at --ray-address {address}: "
    )
    assert not out.exists()


def test_a_ray_address_that_is_no_address_is_refused() -> None:
    from sftmask.engines.ray_cluster import check_reachable
    from sftmask.errors import ConfigError

    with pytest.raises(ConfigError, match="--ray-address head-node is not a Ray address"):
        check_reachable("head-node")
    check_reachable("auto")  # Ray finds the running cluster itself
