"""Start-up: a build imports what its data kind uses and no more (issue 27). The chat machinery
(jinja2, `sftmask.chat.render`) costs a prompt/response build start-up time it never uses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_build import write_jsonl

pytestmark = pytest.mark.slow  # runs `sftmask build` in a process of its own

# The `sftmask` command as installed (`sftmask.cli.app.run`: the build runs in the supervised
# child), with the app wrapped to write the child's imported modules down when the build ends.
_RUN = """
import json, sys
import sftmask.cli.app as cli

real = cli.app
seen = sys.argv[1]

def app():
    try:
        real()
    finally:
        with open(seen, "w") as out:
            json.dump(sorted(sys.modules), out)

cli.app = app
sys.argv = ["sftmask", *sys.argv[2:]]
cli.run()
"""

CHAT_ONLY = (
    "jinja2",
    "sftmask.chat.render",
    "sftmask.chat.encode",
    "sftmask.chat.choice",
    "sftmask.chat.sandbox",
    "transformers",
)

NEVER_WITHOUT_THEIR_OPTION = (
    "yaml",  # a config file, a prompt template, a split output's card
    "tomllib",  # a TOML config file
    "multiprocessing",  # --num-proc workers
    "sftmask.engines.process_pool",
    "ray",  # --engine ray
    "datasets",  # save_to_disk folders as inputs
    "fsspec",  # remote inputs and outputs (s3://...)
    "huggingface_hub",  # a tokenizer named on the Hub
    "zstandard",  # .zst inputs
    "rich",  # progress bars and tables on a terminal (not with --quiet)
)
"""Modules a plain prompt/response build does not need: each is imported by the option that uses it."""


def _modules_of_build(tmp_path: Path, data: Path, tokenizer: Path, *options: str) -> set[str]:
    seen = tmp_path / "modules.json"
    command = [sys.executable, "-c", _RUN, str(seen), "build", str(data), "-t", str(tokenizer)]
    proc = subprocess.run(
        [*command, "-o", str(tmp_path / "out"), "--quiet", *options],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "SFTMASK_NO_SUPERVISOR"},
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(seen.read_text()))


def test_a_prompt_response_build_imports_no_chat_machinery(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "What is 2+2?", "response": "4"}])
    modules = _modules_of_build(tmp_path, data, sample_tokenizer_path)
    assert "sftmask.kinds.prompt_response" in modules  # the child's modules were read
    assert [name for name in CHAT_ONLY if name in modules] == []


def test_a_plain_build_imports_nothing_an_option_it_does_not_use_needs(
    tmp_path: Path, sample_tokenizer_path: Path
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "What is 2+2?", "response": "4"}])
    modules = _modules_of_build(tmp_path, data, sample_tokenizer_path)
    assert "sftmask.kinds.prompt_response" in modules
    assert [name for name in NEVER_WITHOUT_THEIR_OPTION if name in modules] == []


def test_a_build_with_a_yaml_config_and_a_template_reads_them(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [{"instruction": "Add", "input": "2+2", "output": "4"}])
    config = tmp_path / "config.yaml"
    config.write_text("template: alpaca\nmax-length: 64\n")
    modules = _modules_of_build(tmp_path, data, sample_tokenizer_path, "--config", str(config))
    assert "yaml" in modules
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"]["template"] == "alpaca"
    assert manifest["config"]["max_length"] == 64


def test_a_chat_build_imports_the_chat_machinery(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    data = write_jsonl(tmp_path / "chat.jsonl", [{"messages": messages}])
    modules = _modules_of_build(tmp_path, data, sample_tokenizer_path, "--strategy", "assistant-only")
    assert {"jinja2", "sftmask.chat.render"} <= modules


# `python -m sftmask`, with `startup.resume` wrapped to write down the collector's state around it.
_RESUME = """
import gc, json, os, runpy, sys
import sftmask.cli.startup as startup

real = startup.resume
seen = sys.argv[1]

def resume():  # in the supervising process and in the child doing the work: a file each
    state = {"on_while_starting": gc.isenabled(), "config_imported": "sftmask.config.build" in sys.modules}
    real()
    state.update(on_after=gc.isenabled(), frozen=gc.get_freeze_count())
    with open(os.path.join(seen, f"{os.getpid()}.json"), "w") as out:
        json.dump(state, out)

startup.resume = resume
sys.argv = ["sftmask", *sys.argv[2:]]
runpy.run_module("sftmask", run_name="__main__")
"""


def _collector_around_start(tmp_path: Path, *args: str) -> list[dict[str, object]]:
    """The collector's state around `resume` in each process of ``sftmask ARGS`` (the supervising
    process's first, the child's, which did the work, last)."""
    seen = tmp_path / "gc"
    seen.mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", _RESUME, str(seen), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "SFTMASK_NO_SUPERVISOR"},
    ) as proc:
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    states = {int(path.stem): json.loads(path.read_text()) for path in seen.iterdir()}
    assert len(states) == 2 and proc.pid in states  # the supervisor (the process started) and its child
    shutil.rmtree(seen)
    return [states.pop(proc.pid), *states.values()]


def test_the_command_starts_without_the_garbage_collector(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    """The collector is off while the command imports and sets up, and back on (the start-up's
    objects frozen) when a build starts its work, and when any other command starts; in the
    supervising process from the fork on."""
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "What is 2+2?", "response": "4"}])
    out = tmp_path / "out"
    command = ["build", str(data), "-t", str(sample_tokenizer_path), "-o", str(out)]
    supervisor, child = _collector_around_start(tmp_path, *command)
    assert child["on_while_starting"] is False and child["config_imported"] is True
    assert child["on_after"] is True and int(str(child["frozen"])) > 10_000
    assert supervisor["on_while_starting"] is False and supervisor["on_after"] is True
    for state in _collector_around_start(tmp_path, "stats", str(out)):
        assert state["on_while_starting"] is False and state["on_after"] is True


def test_in_process_commands_leave_the_collector_alone(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    """Only the `sftmask` command pauses the collector: the app run in a process of its own
    (CliRunner here, the library elsewhere) keeps it as it is, and freezes nothing."""
    import gc

    from typer.testing import CliRunner

    from sftmask.cli.app import app

    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "What is 2+2?", "response": "4"}])
    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["build", str(data), "-t", str(sample_tokenizer_path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen
