"""Packing benchmark: efficiency per window size, and wall time / CPU / peak RSS of `--pack-length`.

On the benchmark data (bench/gen_data.py) tokenized with the Qwen3.6 tokenizer rebuilt offline:
`sftmask build` unpacked and with `--pack-length` (bfd, default window), each in its own process;
then, from the unpacked rows' lengths, the efficiency best-fit-decreasing reaches with windows of
various sizes (the whole set as one window is the bound).

    python bench/pack_bench.py                        # 20,000 records
    python bench/pack_bench.py --records 200000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from bench.gen_data import generate  # noqa: E402
from bench.run_bench import DATA, measure, tokenizer_dir  # noqa: E402
from sftmask.packing.packer import best_fit_decreasing  # noqa: E402

WINDOWS = (100, 250, 500, 1000, 2000, 5000)


def window_efficiency(lengths: np.ndarray, pack_length: int, window: int) -> float:
    rows = sum(len(best_fit_decreasing(lengths[i : i + window], pack_length)) for i in range(0, len(lengths), window))
    return float(lengths.sum()) / (rows * pack_length)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--pack-length", type=int, default=4096)
    args = parser.parse_args()
    tok = tokenizer_dir()
    data = DATA / f"bench-{args.records}.jsonl"
    if not data.exists():
        generate(args.records, data)
    out = DATA / "pack-out"
    base = [sys.executable, "-m", "sftmask", "build", str(data), "-t", str(tok), "--quiet", "--overwrite"]
    base += ["--max-length", str(args.pack_length)]
    results = {}
    for name, extra in (("unpacked", []), ("packed (bfd)", ["--pack-length", str(args.pack_length)])):
        results[name] = measure([*base, "-o", str(out / name.split()[0]), *extra])
    manifest = json.loads((out / "packed" / "manifest.json").read_text())
    packing = manifest["packing"]
    lengths = np.concatenate(
        [
            np.asarray(pc.list_value_length(pq.read_table(f, columns=["input_ids"]).column(0).combine_chunks()))
            for f in sorted((out / "unpacked").glob("*.parquet"))
        ]
    ).astype(np.int64)
    print(
        f"{args.records:,} records, {int(lengths.sum()):,} tokens, row length mean {lengths.mean():.0f}, max {lengths.max()}"
    )
    print("| variant | wall (s) | CPU (s) | peak RSS (MiB) | rows |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, m in results.items():
        rows = packing["rows"] if name.startswith("packed") else len(lengths)
        print(f"| {name} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | {m['peak_rss_mib']:.0f} | {rows:,} |")
    per_row = packing["examples_per_row"]
    print(
        f"packed: efficiency {packing['efficiency']:.2%} (window {packing['window']}), "
        f"{per_row['mean']:.2f} examples a row (max {per_row['max']})"
    )
    print(f"| window (rows) | efficiency at {args.pack_length} |")
    print("| ---: | ---: |")
    for window in (*WINDOWS, len(lengths)):
        label = f"{window:,}" + (" (all)" if window == len(lengths) else "")
        print(f"| {label} | {window_efficiency(lengths, args.pack_length, window):.2%} |")


if __name__ == "__main__":
    main()
