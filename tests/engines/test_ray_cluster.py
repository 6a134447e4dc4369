"""`--engine ray` against a multi-node cluster on this machine (`ray.cluster_utils.Cluster`: a head
without CPUs and two 1-CPU worker nodes), driven as a user drives it: `sftmask build
--ray-address HEAD` in its own process (issue 26)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sftmask.config.build import BuildConfig
from sftmask.pipeline import build

REPO = Path(__file__).resolve().parents[2]
TOKENIZER = REPO / "sample_data" / "tokenizer"

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head with 0 CPUs (it schedules nothing) and two worker nodes of 1 CPU each."""
    from ray.cluster_utils import Cluster

    small = {"object_store_memory": 100 * 2**20, "include_dashboard": False}
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, **small})
    try:
        for _ in range(2):
            nodes.add_node(num_cpus=1, **small)
        nodes.wait_for_nodes(timeout=120)
        yield nodes
    finally:
        nodes.shutdown()


def sftmask(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sftmask", *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )


def inputs(folder: Path) -> list[str]:
    """The sample instructions in two files, with a broken line (a reject)."""
    lines = (REPO / "sample_data" / "instructions.jsonl").read_text().splitlines()
    first, second = folder / "a.jsonl", folder / "b.jsonl"
    first.write_text("\n".join([*lines[:100], '{"prompt": "broken', *lines[100:150]]) + "\n")
    second.write_text("\n".join(lines[150:]) + "\n")
    return [str(first), str(second)]


def same_files(local: Path, ray_out: Path) -> None:
    names = sorted(p.name for p in local.iterdir())
    assert names == sorted(p.name for p in ray_out.iterdir())
    for name in names:
        if name != "manifest.json":
            assert (local / name).read_bytes() == (ray_out / name).read_bytes(), name


@pytest.mark.slow
def test_default_actors_fit_one_cpu_nodes(tmp_path: Path, cluster: Any) -> None:
    """Each 2-CPU actor (the default --ray-cpus-per-worker) fit the cluster's 2 CPUs but no node:
    the build waited forever. Now two 1-CPU actors, and the rows of the local engine."""
    names = inputs(tmp_path)
    common = ["--batch-size", "16", "--on-error", "skip", "--rows-per-shard", "64"]
    build(BuildConfig(inputs=names, tokenizer=str(TOKENIZER), output=str(tmp_path / "local"), batch_size=16,
                      on_error="skip", rows_per_shard=64))  # fmt: skip
    result = sftmask(
        "build", *names, "-t", str(TOKENIZER), "-o", str(tmp_path / "ray"), "--engine", "ray",
        "--ray-address", cluster.address, *common,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    same_files(tmp_path / "local", tmp_path / "ray")
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["counts"]["records_read"] == 301


@pytest.mark.slow
def test_an_actor_no_node_can_hold_fails_in_seconds(tmp_path: Path, cluster: Any) -> None:
    started = time.monotonic()
    result = sftmask(
        "build", *inputs(tmp_path), "-t", str(TOKENIZER), "-o", str(tmp_path / "ray"), "--engine", "ray",
        "--ray-address", cluster.address, "--ray-cpus-per-worker", "2",
        timeout=120,
    )  # fmt: skip
    assert time.monotonic() - started < 60
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: --ray-cpus-per-worker 2 is more than any node of the Ray cluster has")
    assert not (tmp_path / "ray").exists()
