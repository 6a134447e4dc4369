"""`--engine ray`: the same shards, manifest counts and rejects as the local engine, on a 2-CPU
local Ray (started once per session), including when a labelling worker is killed mid-job."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sftmask.config.build import BuildConfig
from sftmask.errors import ConfigError
from sftmask.labels.batch import Job
from sftmask.pipeline import Progress, build
from tests.cli.test_build import run

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"
SAMPLE_TOKENIZER = SAMPLE / "tokenizer"
LABELLER_TITLE = "ray::_label_"


def prompt_response_inputs(folder: Path) -> list[str]:
    """The sample instructions in two files, with bad records: a broken JSON line, a missing
    response, and (with --max-length 200 --truncation drop) records too long to keep."""
    lines = (SAMPLE / "instructions.jsonl").read_text().splitlines()
    first, second = folder / "a.jsonl", folder / "b.jsonl"
    first.write_text("\n".join([*lines[:100], '{"prompt": "broken', *lines[100:150]]) + "\n")
    second.write_text("\n".join([*lines[150:], json.dumps({"id": "x", "prompt": "no response"})]) + "\n")
    return [str(first), str(second)]


def build_with_both(tmp_path: Path, ray_options: dict[str, Any] | None = None, **options: Any) -> tuple[Path, Path]:
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    build(BuildConfig(output=str(local), **options))
    build(BuildConfig(output=str(ray_out), engine="ray", **options, **(ray_options or {})))
    return local, ray_out


def assert_same_output(local: Path, ray_out: Path) -> dict[str, Any]:
    """Shards and rejects.jsonl byte for byte; the manifest equal but for the engine's options and output."""
    names = sorted(p.name for p in local.iterdir())
    assert names == sorted(p.name for p in ray_out.iterdir())
    for name in names:
        if name != "manifest.json":
            assert (local / name).read_bytes() == (ray_out / name).read_bytes(), name
    manifests = [json.loads((out / "manifest.json").read_text()) for out in (local, ray_out)]
    assert (manifests[0]["config"].pop("engine"), manifests[1]["config"].pop("engine")) == ("local", "ray")
    assert (manifests[0]["config"].pop("output"), manifests[1]["config"].pop("output")) == (str(local), str(ray_out))
    for name in ("ray_address", "ray_workers", "ray_cpus_per_worker", "ray_read"):
        manifests[1]["config"].pop(name)
        manifests[0]["config"].pop(name)
    assert manifests[0] == manifests[1]
    return manifests[0]


def rejects_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]


def test_response_only_same_rows_counts_and_rejects(tmp_path: Path, qwen_path: Path, local_ray: Any) -> None:
    inputs = prompt_response_inputs(tmp_path)
    local, ray_out = build_with_both(
        tmp_path,
        inputs=inputs,
        tokenizer=str(qwen_path),
        max_length=200,
        truncation="drop",
        on_error="skip",
        batch_size=16,
        rows_per_shard=64,
        keep_columns=["id"],
    )
    manifest = assert_same_output(local, ray_out)
    counts = manifest["counts"]
    assert counts["records_read"] == 302 and len(manifest["shards"]) > 1
    assert counts["rejected_by_reason"]["too-long"] > 0
    where = {(r["file"], r["line"], r["reason"]) for r in rejects_of(ray_out)}
    assert (inputs[0], 101, "invalid-json") in where
    assert (inputs[1], 151, "missing-field") in where


def test_first_subtoken_words_same_output(tmp_path: Path, local_ray: Any) -> None:
    data = tmp_path / "ner.jsonl"
    lines = (SAMPLE / "ner.jsonl").read_text().splitlines()
    bad = json.dumps({"id": "bad", "tokens": ["two", "words"], "ner_tags": ["O"]})
    data.write_text("\n".join([*lines[:20], bad, *lines[20:]]) + "\n")
    # String tags and no --label-names: the label set comes from a pass over the inputs.
    local, ray_out = build_with_both(
        tmp_path,
        inputs=[str(data)],
        tokenizer=str(SAMPLE_TOKENIZER),
        strategy="first-subtoken",
        data_kind="words",
        on_error="skip",
        batch_size=8,
        keep_columns=["id"],
        ray_options={"ray_workers": 2},  # two actors of one CPU each; results still in input order
    )
    manifest = assert_same_output(local, ray_out)
    assert manifest["counts"]["rows_written"] == 50 and manifest["label2id"]
    assert [(r["line"], r["reason"]) for r in rejects_of(ray_out)] == [(21, "length-mismatch")]


def test_label_set_pass_runs_in_ray_read_tasks(tmp_path: Path, local_ray: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """String tags without --label-names: the pass collecting the label set runs as Ray read
    tasks (one per file, not in this process) and gives the local engine's label names, in order."""
    from sftmask.kinds import words

    lines = (SAMPLE / "ner.jsonl").read_text().splitlines()
    inputs = []
    for i, part in enumerate((lines[:20], lines[20:35], lines[35:])):
        path = tmp_path / f"ner-{i}.jsonl"
        path.write_text("\n".join(part) + "\n")
        inputs.append(str(path))
    collected_in = tmp_path / "collected-in"  # the process of each batch the pass collected tags from
    tags_in_batch = words.tags_in_batch

    def recording(tags_field: str, table: pa.RecordBatch) -> set[Any]:
        with collected_in.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return tags_in_batch(tags_field, table)

    monkeypatch.setattr(words, "tags_in_batch", recording)  # pickled with the pass: recorded wherever it runs
    options: dict[str, Any] = {
        "inputs": inputs,
        "tokenizer": str(SAMPLE_TOKENIZER),
        "strategy": "first-subtoken",
        "data_kind": "words",
        "batch_size": 8,
    }
    build(BuildConfig(output=str(tmp_path / "local"), **options))
    assert set(collected_in.read_text().split()) == {str(os.getpid())}  # locally: in this process
    collected_in.unlink()
    build(BuildConfig(output=str(tmp_path / "ray"), engine="ray", **options))
    pids = collected_in.read_text().split()
    assert len(pids) == 3 and str(os.getpid()) not in pids  # a task per file, in Ray's workers
    manifest = assert_same_output(tmp_path / "local", tmp_path / "ray")
    names = sorted({tag for line in lines for tag in json.loads(line)["ner_tags"]})
    assert list(manifest["label2id"]) == names and manifest["counts"]["rows_written"] == len(lines)


def test_chat_same_output(tmp_path: Path, local_ray: Any) -> None:
    local, ray_out = build_with_both(
        tmp_path,
        inputs=[str(SAMPLE / "chat.jsonl")],
        tokenizer=str(SAMPLE_TOKENIZER),
        strategy="assistant-only",
        max_length=512,
        truncation="prompt",
        batch_size=8,
        keep_columns=["id"],
        ray_options={"ray_workers": 2},
    )
    manifest = assert_same_output(local, ray_out)
    assert manifest["counts"]["rows_written"] == 60 and manifest["counts"]["truncated"] > 0


def _labeller_pids() -> list[int]:
    """Labelling actors of this test session's Ray (processes descending from this one)."""
    me, pids = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if title.startswith(LABELLER_TITLE) and _descends_from(parent, me):
            pids.append(int(entry.name))
    return pids


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker process in /proc")
def test_killed_worker_gives_the_same_output(tmp_path: Path, qwen_path: Path, local_ray: Any) -> None:
    options: dict[str, Any] = {
        "inputs": prompt_response_inputs(tmp_path),
        "tokenizer": str(qwen_path),
        "on_error": "skip",
        "batch_size": 8,
    }
    build(BuildConfig(output=str(tmp_path / "local"), **options))
    killed: list[int] = []
    after_kill: list[Progress] = []
    earlier = set(_labeller_pids())

    def kill_once(progress: Progress) -> None:
        if killed:
            after_kill.append(progress)
        elif progress.records >= 24:  # three batches in: a task is busy with the next ones
            # A worker is titled after the task it runs (between two, it is idle: try at the next batch).
            pids = [pid for pid in _labeller_pids() if pid not in earlier]
            assert len(pids) <= 1, (pids, earlier)
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

    build(BuildConfig(output=str(tmp_path / "ray"), engine="ray", **options), on_progress=kill_once)
    assert killed and len(after_kill) > 10  # killed mid-job; Ray ran the lost task again
    assert_same_output(tmp_path / "local", tmp_path / "ray")


def test_ray_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--num-proc applies to --engine local"):
        from sftmask.config.build import make_config

        make_config({"inputs": ["x"], "tokenizer": "t", "output": "o", "engine": "ray", "num_proc": 2}, None)
    with pytest.raises(ConfigError, match="apply to --engine ray"):
        make_config({"inputs": ["x"], "tokenizer": "t", "output": "o", "ray_address": "auto"}, None)


def test_without_ray_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "out"
    result = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--engine", "ray")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == 'Error: --engine ray needs Ray; install it with: pip install "sftmask[ray]"'
    assert not out.exists()


@pytest.mark.parametrize(
    ("nodes", "options", "expected"),
    [
        ([2.0], {}, (1, 2.0)),  # this machine: one actor reserving both CPUs (the feed reserves none)
        ([1.0], {}, (1, 1.0)),  # never more than a node has, or the actor would never start
        ([16.0], {}, (8, 2.0)),
        ([7.0], {"ray_cpus_per_worker": 1}, (7, 1.0)),
        ([2.0], {"ray_workers": 2}, (2, 1.0)),  # asked for more than fit: each reserves less
        ([2.0], {"ray_workers": 4}, (4, 0.5)),
        ([32.0], {"ray_workers": 3}, (3, 2.0)),
        # A cluster: actors sized from its nodes, not from the sum of their CPUs.
        ([0.0, 1.0, 1.0], {}, (2, 1.0)),  # head without CPUs, two 1-CPU workers: it hung, waiting for 2-CPU actors
        ([0.0, 3.0, 3.0], {}, (2, 2.0)),  # 6 CPUs, but a third 2-CPU actor fits on neither node
        ([1.0, 1.0], {"ray_workers": 3}, (3, 0.5)),
        ([4.0, 1.0], {"ray_workers": 3}, (3, 4 / 3)),  # all three on the larger node
        ([8.0, 8.0], {"ray_cpus_per_worker": 3}, (4, 3.0)),
    ],
)
def test_actor_pool_always_fits_the_nodes(
    nodes: list[float], options: dict[str, Any], expected: tuple[int, float]
) -> None:
    from sftmask.engines.ray_cluster import capacity, pool_size

    config = BuildConfig(inputs=["x"], tokenizer="t", output="o", engine="ray", **options)
    workers, per_worker = pool_size(nodes, Job(config, None, ()))  # type: ignore[arg-type]
    assert (workers, per_worker) == expected
    assert capacity(nodes, per_worker) >= workers


@pytest.mark.parametrize(
    ("nodes", "options", "message"),
    [
        (
            [0.0, 1.0, 1.0],
            {"ray_cpus_per_worker": 2},
            "--ray-cpus-per-worker 2 is more than any node of the Ray cluster has (the largest has 1 CPUs)",
        ),
        ([0.0, 1.0, 1.0], {"ray_cpus_per_worker": 2, "ray_workers": 2}, "pass --ray-cpus-per-worker 1 or less"),
        ([0.0], {}, "no node with a CPU"),
        ([], {}, "no node with a CPU"),
    ],
)
def test_an_actor_no_node_can_hold_is_an_error(nodes: list[float], options: dict[str, Any], message: str) -> None:
    from sftmask.engines.ray_cluster import pool_size

    config = BuildConfig(inputs=["x"], tokenizer="t", output="o", engine="ray", **options)
    with pytest.raises(ConfigError, match=re.escape(message)):
        pool_size(nodes, Job(config, None, ()))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        # Found by the reader in the driver (a missing field)...
        ({"id": "bad", "tokens": ["a"]}, ":3: field 'ner_tags' not found"),
        # ... and by the labelling on a Ray worker (words and tags not parallel).
        ({"id": "bad", "tokens": ["two", "words"], "ner_tags": ["O"]}, ":3: 2 words in 'tokens' but 1 tags"),
    ],
)
def test_bad_record_fails_with_the_local_message(
    tmp_path: Path, local_ray: Any, bad: dict[str, Any], expected: str
) -> None:
    data = tmp_path / "ner.jsonl"
    lines = (SAMPLE / "ner.jsonl").read_text().splitlines()
    data.write_text("\n".join([*lines[:2], json.dumps(bad), *lines[2:]]) + "\n")
    common = ["build", str(data), "-t", str(SAMPLE_TOKENIZER), "--strategy", "first-subtoken", "--data-kind", "words"]
    # (--label-names: no warning; the CLI's log handler would outlive the first run's stderr)
    common += ["--batch-size", "2", "--label-names", str(SAMPLE / "ner_labels.txt")]
    local = run(*common, "-o", str(tmp_path / "local"))
    ray_result = run(*common, "-o", str(tmp_path / "ray"), "--engine", "ray")
    assert ray_result.exit_code == local.exit_code == 3
    assert expected in ray_result.stderr and ray_result.stderr == local.stderr
    assert not (tmp_path / "ray").exists()


def split_inputs(folder: Path, parts: int = 4) -> list[str]:
    """`prompt_response_inputs` cut into more files (a .zst among them), for a task per file."""
    import zstandard

    lines = []
    for name in prompt_response_inputs(folder):
        lines += Path(name).read_text().splitlines()
    size = -(-len(lines) // parts)
    names = []
    for i in range(parts):
        chunk = ("\n".join(lines[i * size : (i + 1) * size]) + "\n").encode()
        path = folder / (f"part-{i}.jsonl.zst" if i == 1 else f"part-{i}.jsonl")
        path.write_bytes(zstandard.ZstdCompressor().compress(chunk) if i == 1 else chunk)
        names.append(str(path))
    return names


def test_reading_on_workers_gives_the_same_output(tmp_path: Path, local_ray: Any) -> None:
    """One Ray task per file (--ray-read workers): the same shards, counts and rejects (with
    their files and lines) as the local engine, and progress in input order over all files."""
    inputs = split_inputs(tmp_path)
    options: dict[str, Any] = {
        "inputs": inputs,
        "tokenizer": str(SAMPLE_TOKENIZER),
        "max_length": 200,
        "truncation": "drop",
        "on_error": "skip",
        "batch_size": 16,
        "rows_per_shard": 64,
    }
    build(BuildConfig(output=str(tmp_path / "local"), **options))
    seen: list[Progress] = []
    build(
        BuildConfig(output=str(tmp_path / "ray"), engine="ray", ray_read="workers", ray_workers=2, **options),
        on_progress=seen.append,
    )
    manifest = assert_same_output(tmp_path / "local", tmp_path / "ray")
    assert manifest["counts"]["records_read"] == 302
    assert {r["file"] for r in rejects_of(tmp_path / "ray")} >= {inputs[0], inputs[2]}
    records = [p.records for p in seen]
    assert records == sorted(records) and records[-1] == 302
    done = [p.bytes_read for p in seen]
    assert done == sorted(done) and done[-1] == sum(Path(name).stat().st_size for name in inputs)


def test_reading_on_workers_fails_at_the_first_bad_record_in_input_order(tmp_path: Path, local_ray: Any) -> None:
    inputs = split_inputs(tmp_path)
    inputs[1] = inputs[1].removesuffix(".zst")  # the broken line out of part 1: good files before the bad ones
    good = [line for line in (SAMPLE / "instructions.jsonl").read_text().splitlines()[:50]]
    Path(inputs[1]).write_text("\n".join(good) + "\n")
    for name in (inputs[2], inputs[3]):  # two bad files: the error is the first one's, as locally
        Path(name).write_text(Path(name).read_text() + '{"prompt": "broken\n')
    common = ["build", *inputs, "-t", str(SAMPLE_TOKENIZER), "--batch-size", "8"]
    local = run(*common, "-o", str(tmp_path / "local"))
    ray_result = run(*common, "-o", str(tmp_path / "ray"), "--engine", "ray", "--ray-read", "workers")
    assert ray_result.exit_code == local.exit_code == 3
    assert ray_result.stderr == local.stderr and inputs[2] in local.stderr
    assert not (tmp_path / "ray").exists()


def test_where_files_are_read(tmp_path: Path) -> None:
    from sftmask.engines.ray import reads_on_workers
    from sftmask.io.readers import InputFile
    from sftmask.pipeline import make_reader

    def decide(names: list[str], **options: Any) -> bool:
        config = BuildConfig(inputs=names, tokenizer="t", output="o", engine="ray", **options)
        files = [InputFile(name, "jsonl", 1) for name in names]
        return reads_on_workers(make_reader(config, files), Job(config, None, ()))  # type: ignore[arg-type]

    remote = ["s3://b/a.jsonl", "s3://b/b.jsonl"]
    assert decide(remote) is True
    assert decide(remote[:1]) is False  # one file of one part: one task either way
    assert decide(remote, keep_columns=["id"]) is False  # one type over all files needs one reader
    assert decide(["a.jsonl", "b.jsonl"]) is False  # local paths may not be on every node
    seen: list[list[str]] = []

    def every_node(answer: bool) -> Any:
        return lambda paths: seen.append(paths) or answer

    config = BuildConfig(inputs=["a.jsonl", "s3://b/b.jsonl"], tokenizer="t", output="o", engine="ray")
    files = [InputFile("a.jsonl", "jsonl", 1), InputFile("s3://b/b.jsonl", "jsonl", 1)]
    job = Job(config, None, ())  # type: ignore[arg-type]
    assert reads_on_workers(make_reader(config, files), job, every_node(True)) is True
    assert reads_on_workers(make_reader(config, files), job, every_node(False)) is False
    assert seen == [["a.jsonl"], ["a.jsonl"]]  # only the local paths are asked about
    assert decide(["a.jsonl", "b.jsonl"], ray_read="workers") is True
    assert decide(remote, ray_read="driver") is False
    with pytest.raises(ConfigError, match="cannot read stdin"):
        decide(["-", "a.jsonl"], ray_read="workers")
    with pytest.raises(ConfigError, match="needs --ray-read driver"):
        decide(remote, ray_read="workers", keep_columns=["id"])


def test_auto_reads_a_big_file_that_cannot_be_cut_in_the_driver_when_it_writes() -> None:
    """A part's results come back when its task ends: a big .zst (one part) read on a worker would
    bring all its rows to the driver at once with --ray-write driver, so auto reads it in the
    driver then; with --ray-write workers only summaries come back."""
    from sftmask.engines.ray import reads_on_workers
    from sftmask.io.readers import InputFile
    from sftmask.io.readers.parts import MAX_PART_BYTES, FilePart
    from sftmask.pipeline import make_reader

    names = ["s3://b/a.jsonl.zst", "s3://b/b.jsonl.zst"]
    files = [InputFile(names[0], "jsonl", MAX_PART_BYTES + 1), InputFile(names[1], "jsonl", 10)]
    parts = [FilePart(0), FilePart(1)]

    def decide(**options: Any) -> bool:
        config = BuildConfig(inputs=names, tokenizer="t", output="o", engine="ray", **options)
        return reads_on_workers(make_reader(config, files), Job(config, None, ()), None, parts)  # type: ignore[arg-type]

    assert decide() is False
    assert decide(ray_write="workers") is True
    assert decide(ray_read="workers") is True  # as asked


def rows_in_order(out: Path) -> pa.Table:
    """Every row of a built output, its shards read in name order (input order)."""
    import pyarrow.parquet as pq

    return pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("*.parquet"))]).replace_schema_metadata(None)


@pytest.mark.parametrize("ray_read", ["driver", "workers"])
def test_workers_write_the_local_rows_in_order(tmp_path: Path, local_ray: Any, ray_read: str) -> None:
    """--ray-write workers: each labelled batch is written as a shard by the actor that labelled it.
    The rows and their order, rejects.jsonl and the counts are the local engine's; only the shard
    boundaries differ (one per batch, instead of --rows-per-shard)."""
    options: dict[str, Any] = {
        "inputs": split_inputs(tmp_path),
        "tokenizer": str(SAMPLE_TOKENIZER),
        "max_length": 200,
        "truncation": "drop",
        "on_error": "skip",
        "batch_size": 16,
        "rows_per_shard": 64,
    }
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    build(BuildConfig(output=str(local), **options))
    config = BuildConfig(
        output=str(ray_out), engine="ray", ray_write="workers", ray_read=ray_read, ray_workers=2, **options
    )
    result = build(config)
    assert rows_in_order(ray_out).equals(rows_in_order(local))
    assert (ray_out / "rejects.jsonl").read_bytes() == (local / "rejects.jsonl").read_bytes()
    manifests = [json.loads((out / "manifest.json").read_text()) for out in (local, ray_out)]
    assert manifests[0]["counts"] == manifests[1]["counts"] and manifests[1]["counts"]["records_read"] == 302
    shards = manifests[1]["shards"]
    total = len(shards)
    assert [s["file"] for s in shards] == [f"train-{i:05d}-of-{total:05d}.parquet" for i in range(total)]
    assert total > len(manifests[0]["shards"]) and all(0 < s["rows"] <= 16 for s in shards)
    assert sorted(p.name for p in ray_out.iterdir()) == sorted(
        [s["file"] for s in shards] + ["manifest.json", "rejects.jsonl"]
    )
    from sftmask.io.output import open_output
    from sftmask.report.validate import validate

    assert validate(open_output(str(ray_out))).ok and result.stats.rows_written == sum(s["rows"] for s in shards)


def test_workers_write_refuses_what_needs_the_whole_stream(tmp_path: Path) -> None:
    from sftmask.config.build import make_config

    common = {"inputs": ["x"], "tokenizer": "t", "output": "o", "engine": "ray", "ray_write": "workers"}
    assert make_config({**common, "pack_length": 512}, None).pack_length == 512  # each task packs its rows
    with pytest.raises(ConfigError, match="so --keep-columns needs --ray-write driver"):
        make_config({**common, "keep_columns": "id"}, None)
    for option, value in (("val_size", 10), ("test_size", 0.1), ("dedup", True), ("shuffle", True)):
        flag = "--" + option.replace("_", "-")
        with pytest.raises(ConfigError, match=f"so {flag} needs --ray-write driver"):
            make_config({**common, option: value}, None)
    with pytest.raises(ConfigError, match="apply to --engine ray"):
        make_config({**common, "engine": "local"}, None)


def test_auto_reads_on_workers_when_every_node_sees_the_files(
    tmp_path: Path, local_ray: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from sftmask.engines.ray_cluster import every_node_sees

    names = split_inputs(tmp_path)
    assert every_node_sees(local_ray, names) is True
    assert every_node_sees(local_ray, [*names, str(tmp_path / "missing.jsonl")]) is False
    relative = os.path.relpath(names[0])  # relative to the driver's working directory, as given
    assert every_node_sees(local_ray, [relative]) is True
    options: dict[str, Any] = {"inputs": names, "tokenizer": str(SAMPLE_TOKENIZER), "on_error": "skip"}
    with caplog.at_level(logging.INFO, logger="sftmask.engines.ray"):
        build(BuildConfig(output=str(tmp_path / "ray"), engine="ray", **options))  # --ray-read auto
    assert "reading 4 file(s) in 4 part(s) in tasks" in caplog.text  # local paths every node (this one) sees
    build(BuildConfig(output=str(tmp_path / "local"), **options))
    assert_same_output(tmp_path / "local", tmp_path / "ray")


class _TasksAsked:
    """What `_cancelled_on_exit` asks Ray: which tasks are finished (`done`), which to cancel."""

    def __init__(self, done: set[str]) -> None:
        self.done = done
        self.cancelled: list[str] = []

    def wait(self, refs: list[str], num_returns: int, timeout: float, fetch_local: bool) -> tuple[list[str], list[str]]:
        return [r for r in refs if r in self.done], [r for r in refs if r not in self.done]

    def cancel(self, ref: str) -> None:
        self.cancelled.append(ref)


def test_a_failed_run_cancels_only_its_unfinished_tasks() -> None:
    """Cancelling a finished task whose reply the driver had not processed yet aborted the driver
    (Ray 2.60's task_manager.cc check, CI): finished tasks are left alone, running ones cancelled."""
    from sftmask.engines.ray import _cancelled_on_exit

    ray = _TasksAsked(done={"finished"})
    with pytest.raises(RuntimeError), _cancelled_on_exit(ray) as pending:
        pending += ["finished", "running"]
        raise RuntimeError("a bad record")
    assert ray.cancelled == ["running"]


def test_warnings_of_reading_on_workers_reach_the_console_as_locally(
    tmp_path: Path, local_ray: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A warning a part task's reader logs (a non-empty field the build leaves out) is logged by
    the driver as the local engine logs it: with the file's line, not the part's, and once for
    the build although two parts found it."""
    from sftmask.io.readers import resolve_inputs
    from sftmask.io.readers.parts import plan_parts

    data = tmp_path / "alpaca.jsonl"
    filler = "a few words of text to make the line longer " * 2
    records = [{"instruction": f"Task {i}: {filler}", "input": "", "output": f"Done {i}."} for i in range(3000)]
    records[2500]["input"] = "left out"
    records[2900]["input"] = "left out too"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    parts = plan_parts(resolve_inputs([str(data)], None), batch_size=16)
    assert len(parts) >= 4 and parts[0].end < data.stat().st_size * 2500 // 3000  # line 2501 in a later part
    common = ["build", str(data), "-t", str(SAMPLE_TOKENIZER), "--batch-size", "16"]
    common += ["--prompt-field", "instruction", "--response-field", "output"]

    def warnings_of(*extra: str) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sftmask"):
            assert run(*common, *extra).exit_code == 0
        return [
            r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "is not empty" in r.getMessage()
        ]

    local = warnings_of("-o", str(tmp_path / "local"))
    on_workers = warnings_of("-o", str(tmp_path / "ray"), "--engine", "ray", "--ray-read", "workers")
    warning = f"{data}:2501: field 'input' is not empty: --prompt-field instruction leaves Alpaca's input out"
    assert len(local) == 1 and local[0].startswith(warning)  # line 2501 once; 2901 is the same field, said once
    assert on_workers == local
