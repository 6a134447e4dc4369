"""The `sftmask build` process's CPU time on a multi-node Ray cluster while the input grows 10x.

With `--ray-read workers --ray-write workers` the driver neither parses nor writes a row: it sends
tasks (each reads, labels and writes a part of the inputs), receives per-batch summaries (counts,
rejects, shard names) and writes the manifest. Its CPU time should stay about flat while the input grows (issue 26: < 1.5x for 10x). Runs on a
`ray.cluster_utils.Cluster` on this machine (a head without CPUs, two worker nodes of 1 CPU each),
the small and the large input in interleaved pairs (small, large, small, large ...), CPU time
(user + system) of the `sftmask` process and the work process it forks, not Ray's workers.

    python bench/ray_driver_cpu.py [--records 2000] [--factor 10] [--repeat 2] [--files 4] [--batch-size 1000] [--in-driver] [--pack-length N]

Prints each run (records, driver CPU s, wall s, 1-minute load average before it) and the median
ratio large / small of driver CPU; the rows of each build are checked against the record count.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER = ROOT / "sample_data" / "tokenizer"


def inputs(folder: Path, records: int, files: int) -> list[str]:
    """`records` prompt/response records (the sample instructions repeated) in `files` JSONL files."""
    sample = (ROOT / "sample_data" / "instructions.jsonl").read_text().splitlines()
    lines = [sample[i % len(sample)] for i in range(records)]
    size = -(-records // files)
    names = []
    for i in range(files):
        path = folder / f"part-{i}.jsonl"
        path.write_text("\n".join(lines[i * size : (i + 1) * size]) + "\n")
        names.append(str(path))
    return names


def run(
    names: list[str], out: Path, address: str, where: str, batch_size: int, extra: list[str]
) -> tuple[float, float, float, dict[str, object]]:
    """(driver CPU s, wall s, load) of one build, and its JSON summary."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "sftmask", "build", *names, "-t", str(TOKENIZER), "-o", str(out), "--json"]
    command += ["--engine", "ray", "--ray-address", address, "--ray-read", where, "--ray-write", where]
    command += ["--batch-size", str(batch_size), *extra]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(done.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, load, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--pack-length", type=int, help="pack (in the driver with --in-driver, else in each part's task)"
    )
    parser.add_argument(
        "--in-driver",
        action="store_true",
        help="read and write in the driver (--ray-read/--ray-write driver), to compare",
    )
    args = parser.parse_args()
    from ray.cluster_utils import Cluster

    small = {"object_store_memory": 100 * 2**20, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, **small})
    work = Path(tempfile.mkdtemp(prefix="ray-driver-cpu-"))
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, **small)
        cluster.wait_for_nodes()
        sizes = [args.records, args.records * args.factor]
        data = {}
        for n in sizes:
            (work / str(n)).mkdir()
            data[n] = inputs(work / str(n), n, args.files)
        cpu: dict[int, list[float]] = {n: [] for n in sizes}
        extra = ["--pack-length", str(args.pack_length)] if args.pack_length else []
        print("records  driver CPU s  wall s  load")
        for _ in range(args.repeat):
            for n in sizes:  # interleaved: small, large, small, large ...
                out = work / f"out-{n}"
                shutil.rmtree(out, ignore_errors=True)
                seconds, wall, load, summary = run(
                    data[n], out, cluster.address, "driver" if args.in_driver else "workers", args.batch_size, extra
                )
                assert summary["records_read"] == n and summary["rows_written"] == n, summary  # packed: examples
                cpu[n].append(seconds)
                print(f"{n:>7}  {seconds:12.2f}  {wall:6.1f}  {load:4.1f}", flush=True)
        ratios = [large / small for small, large in zip(cpu[sizes[0]], cpu[sizes[1]], strict=True)]
        print(
            f"driver CPU, {sizes[1]:,} / {sizes[0]:,} records: median {statistics.median(ratios):.2f}x (pairs: "
            + ", ".join(f"{r:.2f}x" for r in ratios)
            + ")"
        )
    finally:
        cluster.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
