"""The `sftmask` process supervises a child that does the work (`sftmask.cli.supervisor`): what it
does when that child dies. Signals during a stuck chat template: tests/chat/test_template_attacks.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chat.test_template_attacks import _alive, _children, _wait_for
from tests.cli.test_build import write_jsonl
from tests.cli.test_faults import BIG

pytestmark = pytest.mark.slow


def _build(tmp_path: Path, tok: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    data = write_jsonl(tmp_path / "in.jsonl", BIG)
    command = [sys.executable, "-m", "sftmask", "build", str(data), "-t", str(tok), "-o", str(tmp_path / "o")]
    return subprocess.Popen(
        [*command, "--batch-size", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name != "in.jsonl")


def test_a_work_process_killed_by_the_out_of_memory_killer_is_reported_and_cleaned_up(
    tmp_path: Path, qwen_path: Path
) -> None:
    proc = _build(tmp_path, qwen_path)
    try:
        _wait_for(lambda: list(tmp_path.glob(".o.sftmask-tmp-*/*.partial")), timeout=240)  # writing shards
        (child,) = _children(proc.pid)
        # The temporary directory and the lock are named by the process the user started.
        assert (tmp_path / f".o.sftmask-tmp-{proc.pid}").is_dir()
        assert (tmp_path / ".o.sftmask-lock-file").read_text() == f"{proc.pid}\n"
        os.kill(child, signal.SIGKILL)  # as the out-of-memory killer does
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 137
    assert stderr == (
        "Error: sftmask's work process was killed by SIGKILL (by the out-of-memory killer?); no output written\n"
    )
    assert _leftovers(tmp_path) == []  # no output, no temporary directory, no lock


def test_the_work_process_dies_with_the_sftmask_process(tmp_path: Path, qwen_path: Path) -> None:
    proc = _build(tmp_path, qwen_path)
    try:
        _wait_for(lambda: list(tmp_path.glob(".o.sftmask-tmp-*")), timeout=240)
        (child,) = _children(proc.pid)
        proc.kill()
        proc.wait(timeout=30)
        _wait_for(lambda: not _alive(child), timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_no_supervisor_runs_the_command_in_one_process(tmp_path: Path, qwen_path: Path) -> None:
    proc = _build(tmp_path, qwen_path, {"SFTMASK_NO_SUPERVISOR": "1"})
    try:
        _wait_for(lambda: list(tmp_path.glob(".o.sftmask-tmp-*")), timeout=240)
        assert _children(proc.pid) == []
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and stderr == "Terminated; no output written.\n"
    assert _leftovers(tmp_path) == []
