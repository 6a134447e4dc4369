"""Benchmark bounded encoding: `sftmask build` with long responses cut at a gap (`text_cuts`)
against the same build encoding every response whole (the code before bounded encoding).

Each run is its own process (wall, CPU, peak RSS); the "whole" variant is the same CLI with
`encoding.response_cut` patched to refuse every cut, and both count the tokens the tokenizer
produced (`Encoder.encode_batch`). Outputs must be the same shards, byte for byte.

    python bench/bounded_bench.py                  # 10,000 records, 20% with long responses
    python bench/bounded_bench.py --chat 2000      # also: 2,000 conversations, --max-length 4096
    python bench/bounded_bench.py --huge-mb 200    # also: one record with a 200 MB response
                                                   # (each build capped at 8 GiB of address space)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"

sys.path.insert(0, str(ROOT))
from bench.gen_data import paragraph, prompt, response  # noqa: E402
from bench.run_bench import measure, tokenizer_dir  # noqa: E402

RUNNER = """
import sys
from sftmask.tokenization import encode as encoding
from sftmask.tokenization.normalform import Encoder
if sys.argv[1] == "whole":
    encoding.response_cut = lambda tok: None
counted = [0]
original = Encoder.encode_batch
def encode_batch(self, texts, **kwargs):
    out = original(self, texts, **kwargs)
    counted[0] += sum(len(e.ids) for e in out)
    return out
Encoder.encode_batch = encode_batch
sys.argv = ["sftmask", *sys.argv[3:]]
try:
    from sftmask.cli.app import app
    app()
finally:
    with open(RESULT, "w") as f:
        f.write(str(counted[0]))
"""


def long_rows(n: int, path: Path, share: float, seed: int = 99) -> Path:
    """`gen_data` records; a `share` of them get a response 2,000-6,000 words longer."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            text = response(rng)
            if rng.random() < share:
                text += "\n\n" + paragraph(rng, rng.randint(2_000, 6_000))
            f.write(json.dumps({"id": i, "prompt": prompt(rng), "response": text}, ensure_ascii=False) + "\n")
    return path


def chat_set(n: int, path: Path, seed: int = 17) -> Path:
    """Conversations of 1-8 user/assistant turns made of `gen_data` prompts and responses."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            messages = []
            for _ in range(rng.randint(1, 8)):
                messages += [{"role": "user", "content": prompt(rng)}, {"role": "assistant", "content": response(rng)}]
            f.write(json.dumps({"id": i, "messages": messages}, ensure_ascii=False) + "\n")
    return path


def huge_record(mb: int, path: Path, seed: int = 5) -> Path:
    rng = random.Random(seed)
    words = paragraph(rng, 200_000)
    text = (words + "\n\n") * (mb * 1_000_000 // (len(words) + 2) + 1)
    path.write_text(json.dumps({"prompt": "Summarise the report below.", "response": text}) + "\n")
    return path


def capped(cmd: list[str], gib: float) -> dict[str, float] | None:
    """`measure` under an address-space limit of `gib` GiB; None when the build fails there."""
    limit = int(gib * 2**30)
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
    )
    _, status, usage = os.wait4(proc.pid, 0)
    measured = {"wall_s": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime}
    measured["peak_rss_mib"] = usage.ru_maxrss / 1024
    return measured if status == 0 else {**measured, "failed": 1.0}


def run(data: Path, label: str, extra: list[str], cap_gib: float | None = None) -> list[dict[str, object]]:
    out = DATA / "out-bounded"
    shutil.rmtree(out, ignore_errors=True)
    results: list[dict[str, object]] = []
    for variant in ("whole", "bounded"):
        result_file = out.parent / f"encoded-{variant}.txt"
        result_file.unlink(missing_ok=True)
        code = f"RESULT = {str(result_file)!r}\n" + RUNNER
        cmd = [sys.executable, "-c", code, variant, "-", "build", str(data), "-t", str(tokenizer_dir())]
        cmd += ["-o", str(out / variant), "--quiet", "--overwrite", *extra]
        print(f"  {label}: {variant} ...", file=sys.stderr, flush=True)
        measured = capped(cmd, cap_gib) if cap_gib else measure(cmd)
        if measured and "failed" in measured:
            row = {"data": label, "variant": f"{variant} (failed under a {cap_gib:g} GiB memory cap)", **measured}
            results.append({**row, "encoded_tokens": 0, "tokens_written": 0, "truncated": 0, "shards": None})
            print(f"    {results[-1]}", file=sys.stderr, flush=True)
            continue
        assert measured is not None
        manifest = json.loads((out / variant / "manifest.json").read_text())
        measured_row: dict[str, object] = {"data": label, "variant": variant, **measured}
        measured_row["encoded_tokens"] = int(result_file.read_text())
        measured_row["tokens_written"] = manifest["counts"]["tokens"]
        measured_row["truncated"] = manifest["counts"]["truncated"]
        measured_row["shards"] = [s["sha256"] for s in manifest["shards"]]
        results.append(measured_row)
        print(f"    {measured_row}", file=sys.stderr, flush=True)
    if results[0]["shards"] is not None:
        results[1]["same_shards"] = results[0]["shards"] == results[1]["shards"]
    shutil.rmtree(out, ignore_errors=True)
    return results


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| data | encoding | wall (s) | CPU (s) | peak RSS (MiB) | tokens encoded | tokens written | truncated rows | same shards |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        same = {True: "yes", False: "NO", None: ""}[r.get("same_shards")]  # type: ignore[index]
        lines.append(
            f"| {r['data']} | {r['variant']} | {float(r['wall_s']):.1f} | {float(r['cpu_s']):.1f} | "  # type: ignore[arg-type]
            f"{float(r['peak_rss_mib']):,.0f} | {int(r['encoded_tokens']):,} | {int(r['tokens_written']):,} | "  # type: ignore[call-overload,arg-type]
            f"{int(r['truncated']):,} | {same} |"  # type: ignore[call-overload]
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--long-share", type=float, default=0.2)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--chat", type=int, default=0, help="also: this many conversations (chat data)")
    parser.add_argument("--chat-max-length", type=int, default=4096)
    parser.add_argument("--huge-mb", type=int, default=0, help="also build one record with a response this large")
    parser.add_argument("--huge-cap-gib", type=float, default=8.0, help="address-space limit of the huge builds")
    args = parser.parse_args()
    results = []
    if args.records:
        data = long_rows(args.records, DATA / f"long-{args.records}-{args.long_share}.jsonl", args.long_share)
        label = f"{args.records:,} records, {args.long_share:.0%} long"
        results += run(data, label, ["--max-length", str(args.max_length)])
    if args.chat:
        data = chat_set(args.chat, DATA / f"chat-{args.chat}.jsonl")
        extra = ["--data-kind", "chat", "--strategy", "assistant-only", "--max-length", str(args.chat_max_length)]
        results += run(data, f"{args.chat:,} conversations (1-8 turns), --max-length {args.chat_max_length}", extra)
    if args.huge_mb:
        huge = huge_record(args.huge_mb, DATA / f"huge-{args.huge_mb}mb.jsonl")
        extra = ["--max-length", str(args.max_length), "--max-chars", str(2 * args.huge_mb * 1_000_000)]
        results += run(huge, f"1 record, {args.huge_mb} MB response", extra, cap_gib=args.huge_cap_gib)
    print(f"max length {args.max_length}; Qwen3.6 byte-level BPE tokenizer\n")
    print(table(results))
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "bounded.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
