"""What `count_boundary_merges` costs on the 10,000-record prompt/response set (Qwen3.6).

1. The function alone, in this process, with the seams skipped and with every pair encoded,
   interleaved (`--repeat` runs each): CPU of the process (the tokenizer's threads included).
2. With ``--alternatives``: what the ideas not taken would cost on the same windows (the
   pre-tokenizer or normalizer run on each joint window from Python; windows joined by an added
   token into fewer texts) against encoding the joint windows in one batch.
3. With ``--build OTHER_CHECKOUT``: a whole `sftmask build` in-process per checkout, alternating,
   each timing the function's calls from the inside (wall, process CPU) against the build's CPU.

    python bench/boundary_merges.py [--repeat 7] [--alternatives] [--build /work/main]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if "--phase" not in sys.argv:  # a phase run imports sftmask from the checkout on its PYTHONPATH
    sys.path.insert(0, str(ROOT))
    from bench.gen_data import generate
    from bench.run_bench import DATA, MAX_LENGTH, tokenizer_dir

    RECORDS = DATA / "bench-10000.jsonl"


def alone(repeat: int) -> None:
    from sftmask.tokenization import encode
    from sftmask.tokenization.load import load_tokenizer

    tok = load_tokenizer(str(tokenizer_dir()))
    records = [json.loads(line) for line in RECORDS.read_text(encoding="utf-8").splitlines()]
    prompts, responses = [r["prompt"] for r in records], [r["response"] for r in records]
    rule = encode.seam_rule(tok)
    if rule is not None:
        width = encode.boundary_window(tok)
        pairs = [(p[-width:], r[:width]) for p, r in zip(prompts, responses, strict=True) if p and r]
        for when in ("first (reads the expression)", "again"):
            start = time.process_time()
            skipped = sum(rule.cuts(a, b) for a, b in pairs)
            print(f"deciding {len(pairs):,} pairs, {when}: {time.process_time() - start:.4f}s; {skipped:,} skipped")
    runs: dict[str, list[float]] = {"seams skipped": [], "every pair encoded": []}
    counts = set()
    for _ in range(repeat):
        for name in runs:
            with mock.patch.object(encode, "seam_rule", return_value=rule if name == "seams skipped" else None):
                start = time.process_time()
                counts.add(encode.count_boundary_merges(tok, prompts, responses))
                runs[name].append(time.process_time() - start)
    for name, times in runs.items():
        print(f"{name}: CPU median {statistics.median(times):.3f}s ({min(times):.3f}-{max(times):.3f})")
    print(f"counts: {sorted(counts)}; load {os.getloadavg()[0]:.2f}")


def alternatives(repeat: int) -> None:
    from sftmask.tokenization import encode
    from sftmask.tokenization.load import load_tokenizer

    tok = load_tokenizer(str(tokenizer_dir()))
    records = [json.loads(line) for line in RECORDS.read_text(encoding="utf-8").splitlines()]
    width = encode.boundary_window(tok)
    joint = [r["prompt"][-width:] + r["response"][:width] for r in records if r["prompt"] and r["response"]]
    tokenizer = tok.continuation_encoder.twin or tok.continuation  # the joint windows are in NFC
    pre, normalizer = tok.continuation.pre_tokenizer, tok.continuation.normalizer
    separator = "<|endoftext|>"
    packed = [separator.join(joint[i : i + 100]) for i in range(0, len(joint), 100)]
    ways = {
        "encode the joint windows (one batch)": lambda: tokenizer.encode_batch_fast(joint, add_special_tokens=False),
        "pre_tokenize_str on each joint window": lambda: [pre.pre_tokenize_str(t) for t in joint],
        "normalize_str on each joint window": lambda: [normalizer.normalize_str(t) for t in joint],
        "100 windows per text, joined by an added token": lambda: tokenizer.encode_batch_fast(
            packed, add_special_tokens=False
        ),
        "all windows in one text": lambda: tokenizer.encode_batch_fast(
            [separator.join(joint)], add_special_tokens=False
        ),
    }
    runs: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeat):
        for name, way in ways.items():
            start = time.process_time()
            way()
            runs[name].append(time.process_time() - start)
    for name, times in runs.items():
        print(f"{name}: CPU median {statistics.median(times):.3f}s ({min(times):.3f}-{max(times):.3f})")


def phase(out: str, records: str, tokenizer: str, max_length: int) -> None:
    """One build in this process, timing count_boundary_merges' calls."""
    import shutil

    from sftmask.kinds import prompt_response

    shutil.rmtree(out, ignore_errors=True)

    spent = [0.0, 0.0]
    real = prompt_response.count_boundary_merges

    def timed(*args: object) -> int:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return real(*args)  # type: ignore[arg-type]
        finally:
            spent[0] += time.perf_counter() - wall
            spent[1] += time.process_time() - cpu

    prompt_response.count_boundary_merges = timed  # type: ignore[assignment]
    from sftmask.cli.app import app

    start = time.process_time()
    with contextlib.suppress(SystemExit):
        app(["build", records, "-t", tokenizer, "-o", out, "--max-length", str(max_length)], standalone_mode=False)
    total = time.process_time() - start
    print(
        f"build CPU {total:.2f}s; count_boundary_merges CPU {spent[1]:.3f}s ({100 * spent[1] / total:.1f}%), wall {spent[0]:.3f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--alternatives", action="store_true", help="also time the ideas not taken")
    parser.add_argument("--build", type=Path, help="also time it inside builds, against this checkout")
    parser.add_argument("--phase", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        out, records, tokenizer, max_length = args.phase
        phase(out, records, tokenizer, int(max_length))
        return
    if not RECORDS.exists():
        generate(10_000, RECORDS)
    alone(args.repeat)
    if args.alternatives:
        alternatives(args.repeat)
    if args.build:
        for _ in range(args.repeat):
            for checkout in (ROOT, args.build.resolve()):
                out = DATA / f"out-boundary-{'this' if checkout == ROOT else 'other'}"
                command = [
                    sys.executable,
                    __file__,
                    "--phase",
                    str(out),
                    str(RECORDS),
                    str(tokenizer_dir()),
                    str(MAX_LENGTH),
                ]
                env = {**os.environ, "PYTHONPATH": str(checkout)}
                result = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
                print(f"  {checkout}: {result.stdout.strip().splitlines()[-1]}; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
