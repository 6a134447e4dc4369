"""Rendering alone: the agentic set (`bench/agentic.py`) through `ChatRenderer.analyse`, the
shipped `qwen3` template, in this checkout and, with `--other CHECKOUT`, in that one, interleaved.

Each run is a process of its own that loads the tokenizer, renders the first conversation (the
template's probe and compilation), then times the CPU of rendering every conversation (user +
system of the process, `time.process_time`) and hashes the texts and spans, which must agree
between the checkouts.

    python bench/render.py [--records 3000] [--repeat 5] [--other /work/main]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from bench.agentic import TEMPLATE, bench_env, compile_checkout, generate  # noqa: E402
from bench.run_bench import DATA, tokenizer_dir  # noqa: E402

RUN = """
import hashlib, json, sys, time
from sftmask.chat.render import ChatRenderer
from sftmask.tokenization.load import load_tokenizer
data, tok_dir, template = sys.argv[1:4]
tok = load_tokenizer(tok_dir)
renderer = ChatRenderer(tok.hf, open(template, encoding="utf-8").read())
rows = [json.loads(line) for line in open(data, encoding="utf-8")]
tools = rows[0]["tools"]  # one parsed list, as a batch's records share it
conversations = [[{"role": m["role"], "content": m["content"]} for m in row["messages"]] for row in rows]
renderer.analyse(conversations[0], tools)
start = time.process_time()
out = [renderer.analyse(messages, tools) for messages in conversations]
cpu = time.process_time() - start
digest = hashlib.sha256(repr([(r.text, r.spans) for r in out]).encode()).hexdigest()
print(json.dumps({"cpu": cpu, "digest": digest}))
"""


def measure(checkout: Path, data: Path) -> dict[str, object]:
    env = bench_env(checkout)
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(data), str(tokenizer_dir()), str(TEMPLATE)],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load"] = os.getloadavg()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--other", type=Path, default=None)
    args = parser.parse_args()
    data = DATA / f"agentic-{args.records}.jsonl"
    if not data.exists():
        generate(args.records, data)
    checkouts = {"this checkout": ROOT}
    if args.other is not None:
        checkouts[str(args.other)] = args.other.resolve()
    for checkout in checkouts.values():
        compile_checkout(checkout)
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in checkouts}
    for i in range(args.repeat):
        for name, checkout in checkouts.items():
            runs[name].append(measure(checkout, data))
            print(f"  {name} {i + 1}/{args.repeat}: cpu {runs[name][-1]['cpu']:.3f} s", file=sys.stderr, flush=True)
    print(f"{args.records:,} conversations rendered, {args.repeat} interleaved repeats")
    for name, values in runs.items():
        cpu = [float(v["cpu"]) for v in values]  # type: ignore[arg-type]
        load = [float(v["load"]) for v in values]  # type: ignore[arg-type]
        print(
            f"{name:<30} CPU s median {statistics.median(cpu):.3f} ({min(cpu):.3f}-{max(cpu):.3f}), "
            f"load {min(load):.1f}-{max(load):.1f}"
        )
    if args.other is not None:
        mine, other = runs.values()
        ratios = [float(a["cpu"]) / float(b["cpu"]) for a, b in zip(mine, other, strict=True)]  # type: ignore[arg-type]
        print(
            f"this / other CPU, per pair: median {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        )
        same = {v["digest"] for v in mine} == {v["digest"] for v in other} and len({v["digest"] for v in mine}) == 1
        print(f"texts and spans identical: {same}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
