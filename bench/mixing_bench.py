"""Benchmark the mixing stage: `sftmask build` plain against the same build with record keys and
held-out splits (--val-size), an on-disk shuffle (--shuffle) and de-duplication (--dedup).

Each build is its own process (CPU time, wall, peak RSS); runs alternate plain / mixed in pairs
so that machine load hits both alike. Both builds must write the same rows (as multisets).

    python bench/mixing_bench.py                 # 20,000 records, 3 pairs
    python bench/mixing_bench.py -n 100000 --pairs 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"

sys.path.insert(0, str(ROOT))
from bench.gen_data import generate  # noqa: E402
from bench.run_bench import measure, tokenizer_dir  # noqa: E402

VARIANTS = {
    "plain": [],
    "split+shuffle+dedup": ["--val-size", "0.05", "--shuffle", "--seed", "1", "--dedup"],
}


def rows(out: Path) -> Counter[tuple[int, ...]]:
    import pyarrow.parquet as pq

    found: Counter[tuple[int, ...]] = Counter()
    for shard in sorted(out.rglob("*.parquet")):
        found.update(tuple(ids) for ids in pq.read_table(shard, columns=["input_ids"])["input_ids"].to_pylist())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="records")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    data = DATA / f"mixing-{args.n}.jsonl"
    if not data.exists():
        generate(args.n, data)
    tok = tokenizer_dir()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    outputs = {name: DATA / f"mixing-out-{name.replace('+', '-')}" for name in VARIANTS}
    for _ in range(args.pairs):
        for name, extra in VARIANTS.items():
            shutil.rmtree(outputs[name], ignore_errors=True)
            cmd = [sys.executable, "-m", "sftmask", "build", str(data), "-t", str(tok), "-o", str(outputs[name])]
            results[name].append(measure([*cmd, "--max-length", "2048", "-q", *extra]))
    assert rows(outputs["plain"]) == rows(outputs["split+shuffle+dedup"]), "the builds wrote different rows"
    plain_cpu = statistics.median(r["cpu_s"] for r in results["plain"])
    report = {}
    for name, runs in results.items():
        cpu = statistics.median(r["cpu_s"] for r in runs)
        report[name] = {
            "cpu_s_median": round(cpu, 2),
            "cpu_s": [round(r["cpu_s"], 2) for r in runs],
            "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 2),
            "peak_rss_mib_max": round(max(r["peak_rss_mib"] for r in runs)),
            "load_at_start": [round(r["load"], 2) for r in runs],
            "cpu_vs_plain": round(cpu / plain_cpu, 3),
        }
    print(json.dumps({"records": args.n, "pairs": args.pairs, **report}, indent=2))


if __name__ == "__main__":
    main()
