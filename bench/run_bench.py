"""Benchmark `sftmask build` against the lean limit, a `datasets.map` pipeline and a per-record loop.

Each variant runs in its own process; wall time, CPU time (user + system) and peak RSS (of that process) are
measured in the same run, on the same data, with the Qwen3.6 tokenizer rebuilt offline.

    python bench/run_bench.py                     # N = 20,000 and 200,000
    python bench/run_bench.py --records 2000      # a quick check
    python bench/run_bench.py --big-file-gb 2     # also: sftmask on a ~2 GB input
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
MAX_LENGTH = 2048

sys.path.insert(0, str(ROOT))
from bench.gen_data import generate  # noqa: E402


def tokenizer_dir() -> Path:
    folder = DATA / "qwen3_6"
    if not (folder / "tokenizer.json").exists():
        from tests.tokenizers_offline import build_qwen

        build_qwen(folder)
    return folder


def measure(cmd: list[str]) -> dict[str, float]:
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}\n{err[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024}


def variants(data: Path, tok: Path, out: Path) -> dict[str, list[str]]:
    py = sys.executable
    sftmask = [
        py,
        "-m",
        "sftmask",
        "build",
        str(data),
        "-t",
        str(tok),
        "--max-length",
        str(MAX_LENGTH),
        "--quiet",
        "--overwrite",
    ]
    return {
        "sftmask build": [*sftmask, "-o", str(out / "sftmask")],
        "sftmask build --num-proc 2": [*sftmask, "-o", str(out / "sftmask-np2"), "--num-proc", "2"],
        # Starts a local Ray with this machine's CPUs (start-up included in the time); CPU time
        # and peak RSS are the driver's only: Ray's worker processes are not its children.
        "sftmask build --engine ray": [*sftmask, "-o", str(out / "sftmask-ray"), "--engine", "ray"],
        "lean limit": [py, str(BENCH / "lean.py"), str(data), str(tok), str(out / "lean.parquet"), str(MAX_LENGTH)],
        "datasets.map": [py, str(BENCH / "hf_map.py"), str(data), str(tok), str(out / "map"), str(MAX_LENGTH)],
        "per-record loop": [
            py,
            str(BENCH / "loop.py"),
            str(data),
            str(tok),
            str(out / "loop.parquet"),
            str(MAX_LENGTH),
        ],
    }


def _rows(paths: list[Path]) -> Iterator[tuple[list[int], list[int]]]:
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1000, columns=["input_ids", "labels"]):
            yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


def same_rows(a: list[Path], b: list[Path]) -> bool:
    """Compare input_ids and labels, row by row, of two outputs (each a list of shards in order)."""
    return all(x == y for x, y in zip(_rows(a), _rows(b), strict=True))


def run(n: int, skip: set[str]) -> list[dict[str, object]]:
    data = DATA / f"bench-{n}.jsonl"
    if not data.exists():
        generate(n, data)
    tok = tokenizer_dir()
    out = DATA / f"out-{n}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "map").mkdir()
    results = []
    for name, cmd in variants(data, tok, out).items():
        if name in skip:
            continue
        print(f"  N={n:,}: {name} ...", file=sys.stderr, flush=True)
        results.append({"variant": name, "records": n, **measure(cmd)})
    manifest = json.loads((out / "sftmask" / "manifest.json").read_text())
    tokens = manifest["counts"]["tokens"]
    shards = sorted((out / "sftmask").glob("*.parquet"))  # train-00000-of-..., in order
    checks = {
        "lean limit": out / "lean.parquet",
        "per-record loop": out / "loop.parquet",
        "datasets.map": out / "map" / "train.parquet",
    }
    same_shards = {"sftmask build --num-proc 2": out / "sftmask-np2", "sftmask build --engine ray": out / "sftmask-ray"}
    lean = next(r for r in results if r["variant"] == "lean limit")
    for r in results:
        r["tokens"] = tokens
        r["ratio_to_lean"] = float(r["wall_s"]) / float(lean["wall_s"])  # type: ignore[arg-type]
        path = checks.get(str(r["variant"]))
        r["same_rows_as_sftmask"] = same_rows(shards, [path]) if path and path.exists() else None
    for r in results:
        other = same_shards.get(str(r["variant"]))
        if other is not None and other.exists():  # the same shards, byte for byte
            shas = [s["sha256"] for s in json.loads((other / "manifest.json").read_text())["shards"]]
            r["same_rows_as_sftmask"] = shas == [s["sha256"] for s in manifest["shards"]]
    shutil.rmtree(out, ignore_errors=True)
    return results


def big_file(gb: float) -> dict[str, object]:
    """sftmask alone on a ~`gb` GB input (peak RSS must stay flat)."""
    n = int(gb * 1e9 / 3700)  # ~3.7 kB per generated record
    data = DATA / f"bench-{n}.jsonl"
    if not data.exists():
        generate(n, data)
    out = DATA / "out-big"
    cmd = variants(data, tokenizer_dir(), out)["sftmask build"]
    print(f"  big file {data.stat().st_size / 1e9:.2f} GB: sftmask build ...", file=sys.stderr, flush=True)
    result = {"variant": f"sftmask build, {data.stat().st_size / 1e9:.2f} GB input", "records": n, **measure(cmd)}
    result["tokens"] = json.loads((out / "sftmask" / "manifest.json").read_text())["counts"]["tokens"]
    shutil.rmtree(out, ignore_errors=True)
    return result


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| records | variant | wall (s) | CPU (s) | records/s | tokens/s | peak RSS (MiB) | time / lean | same rows |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        wall = float(r["wall_s"])  # type: ignore[arg-type]
        ratio = f"{float(r['ratio_to_lean']):.2f}x" if "ratio_to_lean" in r else ""  # type: ignore[arg-type]
        same = {True: "yes", False: "NO", None: ""}[r.get("same_rows_as_sftmask")]  # type: ignore[index]
        lines.append(
            f"| {int(r['records']):,} | {r['variant']} | {wall:.1f} | {float(r['cpu_s']):.1f} | "  # type: ignore[call-overload,arg-type]
            f"{int(r['records']) / wall:,.0f} | "  # type: ignore[call-overload]
            f"{int(r['tokens']) / wall:,.0f} | {float(r['peak_rss_mib']):,.0f} | {ratio} | {same} |"  # type: ignore[call-overload,arg-type]
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--skip", nargs="*", default=[], help="variant names to skip, e.g. 'per-record loop'")
    parser.add_argument("--big-file-gb", type=float, default=0.0)
    args = parser.parse_args()
    results = []
    for n in args.records:
        results += run(n, set(args.skip))
    if args.big_file_gb:
        results.append(big_file(args.big_file_gb))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"
    print(f"Machine: {machine}; max length {MAX_LENGTH}; Qwen3.6 byte-level BPE tokenizer\n")
    print(table(results))
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "latest.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
