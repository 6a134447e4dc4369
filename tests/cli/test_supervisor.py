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


# A command run as `sftmask` runs its commands (`supervisor.run`): prints, registers an atexit
# function, leaves an object whose finalizer would write at teardown, and exits with a code;
# run with exit_fast (as the `sftmask` command does) or by a caller that catches SystemExit.
_COMMAND = """
import atexit, ctypes, sys, threading, time
from pathlib import Path
from sftmask.cli import supervisor

folder = Path(sys.argv[1])

class Torn:
    def __del__(self):
        (folder / "torn-down").write_text("")

kept = Torn()  # a module global: freed when the interpreter is taken apart

def command():
    atexit.register(lambda: (folder / "atexit").write_text(""))
    print("to stdout", end="")
    sys.stderr.write("to stderr")
    ctypes.CDLL(None).printf(b"from C")  # C's stdio buffer (the output is a pipe: fully buffered)
    if sys.argv[2] == "thread":
        threading.Thread(target=lambda: (time.sleep(1), (folder / "thread").write_text(""))).start()
    sys.exit(int(sys.argv[3]))

if sys.argv[4] == "fast":  # as the `sftmask` command runs it
    supervisor.run(command, exit_fast=True)
try:  # as a program of one's own calling the app would
    supervisor.run(command)
except SystemExit as exc:
    (folder / "caught").write_text(str(exc.code))
    raise
"""


@pytest.mark.parametrize("supervised", [True, False], ids=["supervised", "one process"])
@pytest.mark.parametrize("code", [0, 3])
def test_a_command_ends_without_taking_the_interpreter_apart(tmp_path: Path, supervised: bool, code: int) -> None:
    """Exiting skips freeing every module and object (~80 ms of a one-record build) and keeps
    what an exit must do: the exit code, atexit functions, Python's and C's buffered output."""
    env = {k: v for k, v in os.environ.items() if k != "SFTMASK_NO_SUPERVISOR"}
    if not supervised:
        env["SFTMASK_NO_SUPERVISOR"] = "1"
    command = [sys.executable, "-c", _COMMAND, str(tmp_path)]
    proc = subprocess.run([*command, "-", str(code), "fast"], capture_output=True, text=True, env=env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (code, "to stdoutfrom C", "to stderr")
    assert (tmp_path / "atexit").exists()
    assert not (tmp_path / "torn-down").exists()
    assert not (tmp_path / "caught").exists()


@pytest.mark.parametrize("supervised", [True, False], ids=["supervised", "one process"])
def test_a_caller_of_the_app_still_catches_its_exit(tmp_path: Path, supervised: bool) -> None:
    """Called by a program (not as the `sftmask` command), the app exits with SystemExit, which
    the caller may catch; a supervised command's child ends at once (the caller's code is the
    parent's to run)."""
    env = {k: v for k, v in os.environ.items() if k != "SFTMASK_NO_SUPERVISOR"}
    if not supervised:
        env["SFTMASK_NO_SUPERVISOR"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", _COMMAND, str(tmp_path), "-", "3", "caller"], capture_output=True, text=True, env=env
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "to stdoutfrom C", "to stderr")
    assert (tmp_path / "caught").read_text() == "3"  # once: not in the child as well
    assert (tmp_path / "atexit").exists()


def test_a_command_leaving_a_thread_running_exits_as_python_does(tmp_path: Path) -> None:
    """Python waits for a (non-daemon) thread before it exits: so does the command."""
    proc = subprocess.run(
        [sys.executable, "-c", _COMMAND, str(tmp_path), "thread", "0", "fast"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "thread").exists() and (tmp_path / "atexit").exists()
