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


# --- pandas: never imported by a build (issue 27) -------------------------------------------------
# pyarrow imports pandas (0.25-0.3 CPU s) the first time `pa.array`, `pa.scalar`, `to_numpy` or a
# compute function given Python values runs, and `pyarrow.dataset` on import; a build makes its
# arrays with `sftmask.arrays` instead. Each build below runs the `sftmask` command in a process of
# its own with a `sitecustomize` that writes down where pandas was imported, in any of the build's
# processes (the supervisor, the child doing the work, --num-proc's spawned workers).

_WATCH = """
import os, sys, traceback

class _Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            with open(os.environ["SFTMASK_TEST_PANDAS_LOG"], "a") as log:
                log.write(f"pandas imported in process {os.getpid()} ({' '.join(sys.argv)}):\\n")
                log.write("".join(traceback.format_stack()[:-1]))
        return None

sys.meta_path.insert(0, _Watch())
"""

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"
_WEIGHTED_RECIPE = """
tokenizer: {tokenizer}
max-length: 256
test-size: 7
shuffle: true
dedup: true
seed: 3
pack-length: 512
datasets:
  - name: alpaca
    inputs: [{sample}/alpaca.json]
    template: alpaca
    weight: 2
  - name: chat
    inputs: [{sample}/chat.jsonl]
    chat-template: chatml
    strategy: assistant-only
    weight: 1
  - name: table
    inputs: [{parquet}]
    take: 0.5
    weight: 1
"""

NO_PANDAS_BUILDS: dict[str, list[str]] = {
    "prompt-response JSONL, Qwen": [f"{SAMPLE}/instructions.jsonl", "-t", "{qwen}", "--max-length", "128"],
    "prompt-response CSV": [f"{SAMPLE}/instructions.csv"],
    "JSON array, alpaca template": [f"{SAMPLE}/alpaca.json", "--template", "alpaca"],
    "Parquet, kept ids": ["{parquet}", "--batch-size", "50", "--keep-columns", "id"],
    "Arrow IPC file": ["{arrow}"],
    "save_to_disk folder": ["{saved}"],
    "rejects": ["{bad}", "--on-error", "skip", "--max-length", "64", "--truncation", "drop"],
    "chat, assistant-only": [f"{SAMPLE}/chat.jsonl", "--strategy", "assistant-only"],
    "chat, last-turn, Mistral": [
        f"{SAMPLE}/chat.jsonl",
        "-t",
        "{mistral}",
        "--strategy",
        "last-turn",
        "--chat-template",
        "chatml",
    ],
    "chat from Parquet": ["{chat_parquet}", "--strategy", "assistant-only"],
    "tool calls (TRL conversational)": [f"{SAMPLE}/dialects/trl_conversational_tools.jsonl"],
    "OpenAI chat (weights, content parts, tool call)": [f"{SAMPLE}/dialects/openai_chat.jsonl"],
    "ShareGPT (function calls)": [f"{SAMPLE}/dialects/llamafactory_sharegpt.json"],
    "text": [f"{SAMPLE}/dialects/trl_language_modeling.jsonl", "--data-kind", "text"],
    "words, label names, WordPiece": [
        f"{SAMPLE}/ner.jsonl",
        "-t",
        "{wordpiece}",
        "--data-kind",
        "words",
        "--strategy",
        "first-subtoken",
        "--label-names",
        f"{SAMPLE}/ner_labels.txt",
        "--max-length",
        "20",
        "--truncation",
        "response",
    ],
    "words, labels from the data": [f"{SAMPLE}/ner.jsonl", "--data-kind", "words", "--strategy", "first-subtoken"],
    "packed (bfd), kept ids": [f"{SAMPLE}/instructions.jsonl", "--pack-length", "512", "--keep-columns", "id"],
    "packed (wrapped)": [
        f"{SAMPLE}/chat.jsonl",
        "--pack-length",
        "300",
        "--pack-strategy",
        "wrapped",
        "--strategy",
        "all",
    ],
    "splits, shuffle, dedup": [
        f"{SAMPLE}/instructions.jsonl",
        "--val-size",
        "0.1",
        "--test-size",
        "5",
        "--shuffle",
        "--dedup",
    ],
    "recipe: three sources, split, shuffle": ["--config", str(REPO / "configs" / "recipe.yaml")],
    "recipe: weights, take, dedup, packed": ["--config", "{recipe}"],
    "--num-proc 2": [f"{SAMPLE}/instructions.jsonl", "--num-proc", "2", "--batch-size", "64"],
}
"""Every data kind, every reader, rejects, packing, mixing, splits and shuffle, worker processes."""


@pytest.fixture(scope="module")
def table_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The sample records as Parquet, an Arrow IPC file and a save_to_disk folder; a JSONL file with bad records."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("tables")
    records = [json.loads(line) for line in (SAMPLE / "instructions.jsonl").read_text(encoding="utf-8").splitlines()]
    table = pa.Table.from_pylist(records)
    pq.write_table(table, folder / "instructions.parquet", row_group_size=64)
    with pa.ipc.new_file(str(folder / "instructions.arrow"), table.schema) as writer:
        writer.write_table(table, max_chunksize=70)
    datasets.Dataset.from_list(records).save_to_disk(str(folder / "saved"))
    chat = [json.loads(line) for line in (SAMPLE / "chat.jsonl").read_text(encoding="utf-8").splitlines()]
    pq.write_table(pa.Table.from_pylist(chat), folder / "chat.parquet")
    lines = (SAMPLE / "instructions.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    lines[3:16:4] = ['{"prompt": 5, "response": "x"}', "not json", '{"prompt": "p"}', '{"prompt": "p", "response": ""}']
    (folder / "bad.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    names = {
        "parquet": "instructions.parquet",
        "arrow": "instructions.arrow",
        "saved": "saved",
        "chat_parquet": "chat.parquet",
        "bad": "bad.jsonl",
    }
    return {key: str(folder / name) for key, name in names.items()}


def _pandas_imports(tmp_path: Path, args: list[str]) -> str:
    """Where pandas was imported (or "") while ``sftmask ARGS`` ran, watched in all its processes."""
    watch = tmp_path / "watch"
    watch.mkdir()
    (watch / "sitecustomize.py").write_text(_WATCH)
    log = tmp_path / "pandas.log"
    path = os.pathsep.join([str(watch), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {k: v for k, v in os.environ.items() if k != "SFTMASK_NO_SUPERVISOR"}
    proc = subprocess.run(
        [sys.executable, "-m", "sftmask", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**env, "PYTHONPATH": path, "SFTMASK_TEST_PANDAS_LOG": str(log)},
    )
    assert proc.returncode == 0, proc.stderr
    return log.read_text() if log.exists() else ""


@pytest.mark.parametrize("build", NO_PANDAS_BUILDS)
def test_a_build_never_imports_pandas(
    build: str,
    tmp_path: Path,
    table_inputs: dict[str, str],
    sample_tokenizer_path: Path,
    qwen_path: Path,
    mistral_path: Path,
    wordpiece_path: Path,
) -> None:
    tokenizers = {"qwen": str(qwen_path), "mistral": str(mistral_path), "wordpiece": str(wordpiece_path)}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        _WEIGHTED_RECIPE.format(tokenizer=sample_tokenizer_path, sample=SAMPLE, parquet=table_inputs["parquet"])
    )
    args = [arg.format(recipe=recipe, **tokenizers, **table_inputs) for arg in NO_PANDAS_BUILDS[build]]
    if "--config" not in args and "-t" not in args:
        args += ["-t", str(sample_tokenizer_path)]
    out = tmp_path / "out"
    imported = _pandas_imports(tmp_path, ["build", *args, "-o", str(out), "--quiet"])
    assert json.loads((out / "manifest.json").read_text())["counts"]["rows_written"] > 0
    assert imported == "", f"the build {build!r} imported pandas:\n{imported}"


def test_the_pandas_watch_sees_an_import(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    """The watch above can fail: kept values of mixed shapes still go through pyarrow's type
    inference (`pa.array`, which imports pandas), in the supervised child."""
    records = [{"prompt": "2+2?", "response": "4", "meta": {"a": 1}}, {"prompt": "3+3?", "response": "6", "meta": None}]
    data = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    args = ["build", str(data), "-t", str(sample_tokenizer_path), "-o", str(out), "--keep-columns", "meta", "--quiet"]
    imported = _pandas_imports(tmp_path, args)
    assert "pandas imported in process" in imported and "_keep_array" in imported
