"""Packing on the Ray workers against packing the whole stream: efficiency at --pack-length N.

On the benchmark data (bench/gen_data.py, Qwen3.6 tokenizer rebuilt offline): `sftmask build
--pack-length N` with the local engine (one packer over the whole stream, windows of
--pack-window rows) and with `--engine ray --ray-read workers --ray-write workers` (each task packs
its part's rows: windows restart at each part and the part's last window is smaller), each in its
own process; and the bound, best-fit-decreasing over all the examples at once. A local Ray is
started by the build unless --ray-address is given.

    python bench/ray_pack_bench.py                                 # 20,000 records, --batch-size 1000
    python bench/ray_pack_bench.py --batch-size 250                # smaller parts (8 batches each)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from bench.gen_data import generate  # noqa: E402
from bench.run_bench import DATA, tokenizer_dir  # noqa: E402
from sftmask.packing.packer import best_fit_decreasing  # noqa: E402

PARTS = re.compile(r"in (\d+) part\(s\) in tasks")
SFTMASK = (
    "import logging, sys; logging.basicConfig(level=logging.WARNING, format='%(name)s: %(message)s'); "
    "logging.getLogger('sftmask.engines.ray').setLevel(logging.INFO); "  # the engine's plan: how many parts
    "from sftmask.cli.app import run; sys.argv[0] = 'sftmask'; run()"
)


def run(cmd: list[str], timeout: float) -> tuple[float, str]:
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return time.perf_counter() - start, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--pack-length", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--ray-address", default=None)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    tok = tokenizer_dir()
    data = DATA / f"bench-{args.records}.jsonl"
    if not data.exists():
        generate(args.records, data)
    out = DATA / "ray-pack-out"
    base = [sys.executable, "-c", SFTMASK, "build", str(data), "-t", str(tok), "--overwrite"]
    base += ["--pack-length", str(args.pack_length), "--batch-size", str(args.batch_size)]
    ray = ["--engine", "ray", "--ray-read", "workers", "--ray-write", "workers"]
    ray += ["--ray-address", args.ray_address] if args.ray_address else []
    results = {}
    for name, extra in (("local", []), ("ray", ray)):
        load = os.getloadavg()[0]
        wall, stderr = run([*base, "-o", str(out / name), *extra], args.timeout)
        packing = json.loads((out / name / "manifest.json").read_text())["packing"]
        parts = PARTS.search(stderr)
        results[name] = {
            "rows": packing["rows"],
            "efficiency": packing["efficiency"],
            "examples_per_row": packing["examples_per_row"],
            "parts": int(parts[1]) if parts else None,
            "wall_s": round(wall, 1),
            "load": round(load, 1),
        }
        print(name, json.dumps(results[name]), flush=True)
    lengths = np.concatenate(
        [
            np.asarray(pc.list_flatten(pq.read_table(f, columns=["seq_lengths"]).column(0).combine_chunks()))
            for f in sorted((out / "local").glob("*.parquet"))
        ]
    ).astype(np.int64)
    rows = len(best_fit_decreasing(lengths, args.pack_length))
    bound = round(float(lengths.sum()) / (rows * args.pack_length), 6)
    print("all at once", json.dumps({"rows": rows, "efficiency": bound}))
    print(
        f"\n{args.records:,} records, --pack-length {args.pack_length}, --batch-size {args.batch_size}: "
        f"local {results['local']['efficiency']:.2%} ({results['local']['rows']:,} rows), "
        f"ray workers {results['ray']['efficiency']:.2%} ({results['ray']['rows']:,} rows, "
        f"{results['ray']['parts']} parts), all at once {bound:.2%} ({rows:,} rows)"
    )


if __name__ == "__main__":
    main()
