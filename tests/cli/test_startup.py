"""Start-up: a build imports what its data kind uses and no more (issue 27). The chat machinery
(jinja2, `sftmask.chat.render`) costs a prompt/response build start-up time it never uses."""

from __future__ import annotations

import json
import os
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


def test_a_chat_build_imports_the_chat_machinery(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    data = write_jsonl(tmp_path / "chat.jsonl", [{"messages": messages}])
    modules = _modules_of_build(tmp_path, data, sample_tokenizer_path, "--strategy", "assistant-only")
    assert {"jinja2", "sftmask.chat.render"} <= modules
