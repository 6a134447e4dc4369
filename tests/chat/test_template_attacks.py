"""Chat templates that attack the build (issue 24): operations one C call would spend hours or
gigabytes on, refused before they run (`sftmask.chat.bounds`); renders stuck in one C call that
signals and the time limit still end (`sftmask.cli.supervisor`); templates that run out of time
on conversation after conversation; `template check` on a slow template.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from sftmask import limits
from sftmask.chat import render as chat_render
from sftmask.chat import sandbox
from sftmask.chat.render import ChatRenderer
from sftmask.chat.templates import read_shipped
from sftmask.errors import ConfigError, RecordRejected
from sftmask.limits import RenderSizeExceeded
from tests.chat.test_sandbox import HF
from tests.cli.test_build import run, write_jsonl

CORPUS = Path(__file__).resolve().parents[1] / "hostile" / "templates"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())


def _conversation(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]}


def _build(data: Path, tok: Path, out: Path, template: Path, *args: str) -> Any:
    return run(
        "build", str(data), "-t", str(tok), "-o", str(out), "--data-kind", "chat", "--strategy", "assistant-only",
        "--chat-template", str(template), *args,
    )  # fmt: skip


def _rejects(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]


# --- refused before they run -----------------------------------------------------------------


def test_the_template_corpus_is_complete() -> None:
    names = {p.name for p in CORPUS.glob("*.jinja")}
    assert names == set(EXPECTED) and len(names) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_hostile_template_rejects_only_the_attacking_record(
    tmp_path: Path, sample_tokenizer_path: Path, name: str
) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", [_conversation(t) for t in ("hello", "attack", "bye")])
    out = tmp_path / "out"
    started = time.monotonic()
    result = _build(data, sample_tokenizer_path, out, CORPUS / name, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 60  # refused at once, not computed
    assert json.loads((out / "manifest.json").read_text())["counts"]["rows_written"] == 2
    (reject,) = _rejects(out)
    assert (reject["line"], reject["reason"]) == (2, "chat-template")
    assert reject["message"].startswith("chat template stopped: ") and EXPECTED[name] in reject["message"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["power.jinja", "format_width.jinja", "printf_star.jinja", "repeat_string.jinja"])
def test_attacks_that_ran_for_hours_end_in_seconds(tmp_path: Path, sample_tokenizer_path: Path, name: str) -> None:
    """Through the real CLI: before the sandbox sized them, these ran on inside one C call."""
    data = write_jsonl(tmp_path / "chat.jsonl", [_conversation(t) for t in ("hello", "attack")])
    command = [sys.executable, "-m", "sftmask", "build", str(data), "-t", str(sample_tokenizer_path)]
    command += ["-o", str(tmp_path / "out"), "--data-kind", "chat", "--strategy", "assistant-only"]
    command += ["--chat-template", str(CORPUS / name), "--on-error", "skip"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert EXPECTED[name] in _rejects(tmp_path / "out")[0]["message"]


SMALL = [
    "{{ 7 * 6 }}|{{ 2 ** 64 }}|{{ 'ab' * 3 }}|{{ [1, 2] * 2 }}|{{ (1,) * 3 }}|{{ 3 * 'x' }}|{{ true * 'y' }}",
    "{{ 7 % 3 }}|{{ 7.5 % 2 }}|{{ 2 ** -1 }}|{{ (-3) ** 3 }}|{{ 10 ** 0 }}|{{ 2.0 ** 10 }}|{{ (-1) ** 99999999 }}",
    "{{ '%05.1f|%-3s|%*d|%.*f' % (3.14159, 'a', 4, 7, 2, 1.5) }}|{{ '%(a)s %%' % {'a': 1} }}|{{ '%s' % 'x' }}",
    "{{ '{:>6}|{:.2f}|{:^5}|{:0>4}'.format('x', 2.5, 'y', 7) }}|{{ '{a:*^7}'.format_map({'a': 'b'}) }}",
    "{{ ('{}'|safe).format('<b>') }}|{{ '%s and %s'|format('a', 'b') }}|{{ '%(x)s'|format(x=1) }}",
    "{{ 'x'.center(5) }}|{{ 'x'|center(5) }}|{{ 'x'.ljust(3) }}.|{{ 'x'.rjust(3) }}|{{ '7'.zfill(3) }}",
    "{{ 'a\nb'|indent(2, true) }}|{{ 'a\nb'|indent('> ') }}|{{ 'a\tb'.expandtabs(4) }}|{{ 'a\tb'.expandtabs() }}",
    "{{ 'abc'.replace('b', 'xyz') }}|{{ 'abc'|replace('', '-') }}|{{ 'aaa'.replace('a', 'bb', 2) }}",
    "{{ (258).to_bytes(2, 'big') }}|{{ [1, 2, 3]|batch(2, 0)|list }}|{{ [1, 2, 3]|batch(2)|list }}",
    "{{ 'x' * 'y' }}",
    "{{ '%d' % 'x' }}",
    "{{ 'x'.center() }}",
    "{{ '{:>5}'.format_map({}, 1) }}",
    "{{ 'x'|center(1, 2, 3) }}",
]


def _outcome(render: Any) -> Any:
    try:
        return render()
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize("source", SMALL)
def test_sized_operations_of_ordinary_size_render_as_transformers_renders_them(source: str) -> None:
    ours = _outcome(lambda: sandbox.render(sandbox.compile_template(source), {"messages": []})[0])
    theirs = _outcome(lambda: render_jinja_template(conversations=[[]], chat_template=source)[0][0])
    assert ours == theirs


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("{{ 'x' * 1000 }}", False),  # exactly the limit
        ("{{ 'x' * 1001 }}", True),
        ("{{ 1001 * 'x' }}", True),
        ("{{ [0] * 125 }}", False),  # 8 bytes an item
        ("{{ [0] * 126 }}", True),
        ("{{ '{:>1000}'.format('') }}", False),
        ("{{ '{:>1001}'.format('') }}", True),
        ("{{ '{:.500}{:>501}'.format('x', 'y') }}", False),  # each field on its own
        ("{{ '%-600s%-401s' % ('a', 'b') }}", True),  # a format's fields together
        ("{{ '%*s' % (1001, 'a') }}", True),
        ("{{ '%(k)1001s' % {'k': 1} }}", True),
        ("{{ 2 ** 64 }}", False),  # RENDER_INT_BITS is 64 here
        ("{{ 2 ** 65 }}", True),
        ("{{ (2 ** 40) * (2 ** 30) }}", True),
        ("{{ 'ab'.replace('', 'x' * 332) }}", False),  # 'XaXbX': 998 characters
        ("{{ 'ab'.replace('', 'x' * 333) }}", True),
        ("{{ 'a\nb\nc'|indent(331) }}", False),  # counted as if every line were indented
        ("{{ 'a\nb\nc'|indent(332) }}", True),
        ("{{ [1]|batch(126, 0)|list }}", True),
        ("{{ (1).to_bytes(1001, 'big') }}", True),
    ],
)
def test_limits_apply_to_the_result_size(source: str, refused: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "RENDER_MEMORY_BYTES", 1000)
    monkeypatch.setattr(limits, "RENDER_INT_BITS", 64)
    template = sandbox.compile_template(source)
    if refused:
        with pytest.raises(RenderSizeExceeded, match="would make"):
            sandbox.render(template, {})
    else:
        sandbox.render(template, {})


def test_a_constant_is_sized_when_it_would_run_not_computed_when_compiling() -> None:
    template = sandbox.compile_template("{% if false %}{{ 'x' * 3000000000 }}{{ 10 ** 3000000000 }}{% endif %}ok")
    assert sandbox.render(template, {})[0] == "ok"


# --- reasons, compiles ---------------------------------------------------------------------------


def test_an_exception_without_a_message_still_gives_a_reason() -> None:
    renderer = ChatRenderer(HF, "{{ raise_exception('') }}")
    with pytest.raises(RecordRejected, match=r"chat template failed on this conversation: TemplateError$"):
        renderer.analyse([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])


def test_a_template_that_does_not_compile_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(source: str) -> Any:
        calls.append(source)
        return sandbox.compile_template(source)

    monkeypatch.setattr(chat_render, "compile_template", counted)
    broken = "{% for m in messages %}{{ m.content }}{# one compile per process #}"
    for _ in range(3):
        with pytest.raises(ConfigError, match="chat template does not compile"):
            ChatRenderer(HF, broken)
    assert calls == [broken]


# --- out of time, again and again ------------------------------------------------------------

LOOPS = (
    "{%- for m in messages %}{% if 'loop' in m.content %}"
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}"
    "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_renderings_out_of_time_in_a_row_stop_the_build(
    tmp_path: Path, sample_tokenizer_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "RENDER_SECONDS", 1.0)
    template = tmp_path / "loops.jinja"
    template.write_text(LOOPS)
    # Not in a row: each such record is rejected, the build goes on.
    data = write_jsonl(tmp_path / "chat.jsonl", [_conversation(t) for t in ("loop", "ok", "loop", "ok", "loop")])
    result = _build(data, sample_tokenizer_path, tmp_path / "out", template, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert [r["line"] for r in _rejects(tmp_path / "out")] == [1, 3, 5]
    # In a row: the template is the problem, not the data; the build stops at the third.
    data = write_jsonl(tmp_path / "chat.jsonl", [_conversation("loop") for _ in range(30)])
    started = time.monotonic()
    result = _build(data, sample_tokenizer_path, tmp_path / "out2", template, "--on-error", "skip")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: --chat-template {template} took more than 1 s on each of 3 conversations in a row, so the build "
        "stopped: the template is the problem, not the data (a loop that does not end?); fix the template or "
        "choose another with --chat-template\n"
    )
    assert time.monotonic() - started < 25  # not 30 s, one for each record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.jsonl", "loops.jinja", "out"]


def _check(template: Path, tok: Path, *args: str) -> Any:
    return run("template", "check", str(template), "-t", str(tok), *args)


def test_template_check_stops_after_renderings_out_of_time_in_a_row(
    tmp_path: Path, sample_tokenizer_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "RENDER_SECONDS", 1.0)
    template = tmp_path / "loops.jinja"
    template.write_text(LOOPS.replace("'loop' in m.content", "true"))
    started = time.monotonic()
    result = _check(template, sample_tokenizer_path, "--count", "20")
    assert result.exit_code == 2, result.output
    assert f"Error: {template} took more than 1 s on each of 3 conversations in a row" in result.stderr
    assert time.monotonic() - started < 25


def test_template_check_has_a_time_budget(
    tmp_path: Path, sample_tokenizer_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "CHECK_SECONDS", 2.0)
    slow = read_shipped("chatml").replace(
        "{%- for message in messages %}", "{%- for message in messages %}{% for i in range(100000) %}{% endfor %}", 1
    )
    assert slow != read_shipped("chatml")
    template = tmp_path / "slow.jinja"
    template.write_text(slow)
    started = time.monotonic()
    result = _check(template, sample_tokenizer_path, "--count", "40")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: template check stopped: {template} took more than 2 s to check ")
    assert "of 40 conversations (real templates take milliseconds each); fix the template" in result.stderr
    assert time.monotonic() - started < 30


# --- stuck inside one C call: signals and the time limit still end the build ------------------

STUCK = (
    # Lists holding one long list many times, compared: 10**15 comparisons inside one C call. The
    # sizes are small (no operation makes a large value), so nothing refuses it before it runs.
    "{%- set inner = range(100000)|list %}{% set other = inner|map('int')|list %}"
    "{%- set a = dict.fromkeys(range(100000), inner).values()|list %}"
    "{%- set b = dict.fromkeys(range(100000), other).values()|list %}"
    "{%- set aa = dict.fromkeys(range(100000), a).values()|list %}"
    "{%- set bb = dict.fromkeys(range(100000), b).values()|list %}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}{% if loop.last %}{{ aa == bb }}{% endif %}"
    "<|im_end|>\n{% endfor %}"
)

# The CLI as `python -m sftmask`, with the time limits short (on code without a supervisor too).
SHORT_LIMITS = (
    "import runpy, sftmask.limits as limits; limits.RENDER_SECONDS = 2.0\n"
    "try:\n    import sftmask.cli.supervisor as supervisor; supervisor.STUCK_SECONDS = 3.0\n"
    "except ImportError:\n    pass\n"
    "runpy.run_module('sftmask', run_name='__main__')\n"
)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _stuck_build(tmp_path: Path, tok: Path, *python: str) -> subprocess.Popen[str]:
    template = tmp_path / "stuck.jinja"
    template.write_text(STUCK)
    data = write_jsonl(tmp_path / "chat.jsonl", [_conversation("hello")])
    command = [*python, "build", str(data), "-t", str(tok), "-o", str(tmp_path / "o"), "--data-kind", "chat"]
    command += ["--strategy", "assistant-only", "--chat-template", str(template)]
    # Its own session, as a terminal's job: Ctrl-C is sent to the whole process group.
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in ("chat.jsonl", "stuck.jinja"))


def _wait_for(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code", "word", "group"),
    [(signal.SIGTERM, 143, "Terminated", False), (signal.SIGINT, 130, "Interrupted", True)],
    ids=["sigterm", "ctrl-c"],
)
def test_a_signal_ends_a_build_stuck_in_one_c_call(
    tmp_path: Path, sample_tokenizer_path: Path, sig: int, code: int, word: str, group: bool
) -> None:
    proc = _stuck_build(tmp_path, sample_tokenizer_path, sys.executable, "-m", "sftmask")
    try:
        _wait_for(lambda: list(tmp_path.glob(".o.sftmask-tmp-*")), timeout=240)
        time.sleep(4)  # rendering: inside the comparison
        workers = _children(proc.pid)
        sent = time.monotonic()
        if group:
            os.killpg(proc.pid, sig)  # what Ctrl-C in a terminal does
        else:
            proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code and stderr == f"{word}; no output written.\n", stderr
    assert took < 15, took
    assert _leftovers(tmp_path) == []  # no output, no temporary folder, no lock
    assert not any(_alive(pid) for pid in workers)


@pytest.mark.slow
def test_a_rendering_stuck_past_its_time_limit_ends_the_build(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    proc = _stuck_build(tmp_path, sample_tokenizer_path, sys.executable, "-c", SHORT_LIMITS)
    try:
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, stderr
    assert stderr.startswith("Error: the chat template ran past its 2 s limit inside one operation that cannot be")
    assert stderr.endswith("; fix the template; no output written\n") and stderr.count("\n") == 1
    assert _leftovers(tmp_path) == []


def test_template_check_without_a_twin_has_the_time_budget_too(
    tmp_path: Path, sample_tokenizer_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unmarked template that renders like no shipped one is checked without a twin: the same budget.
    monkeypatch.setattr(limits, "CHECK_SECONDS", 2.0)
    slow = (
        "{%- for message in messages %}{% for i in range(100000) %}{% endfor %}"
        "{{- '<|im_start|>' + message.role + ':\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant:\\n' }}{%- endif %}"
    )
    template = tmp_path / "slow-unmarked.jinja"
    template.write_text(slow)
    result = _check(template, sample_tokenizer_path, "--count", "40")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: template check stopped: {template} took more than 2 s to check ")
