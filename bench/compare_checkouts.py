"""The same `sftmask build` runs from two checkouts, in interleaved pairs: did a change cost speed?

Each case (prompt/response JSONL and CSV, start-up on one record, chat with the marked template the
build picks and with the unmarked one given as a file) runs A B A B ... `--repeat` times, each run
in its own process (`run_bench.measure`: wall, CPU = user + system, peak RSS); the table shows the
medians, B's over A's, and the load average before the runs. The rows are checked to be the same.

    python bench/compare_checkouts.py /work/main .            # A = main, B = this checkout
    python bench/compare_checkouts.py /work/main . --repeat 5 --records 10000 --chat-records 2000
    python bench/compare_checkouts.py /work/main . --repeat 9 --only "10,000 records" "conversations"
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
from bench import gen_chat  # noqa: E402
from bench.gen_data import generate  # noqa: E402
from bench.run_bench import CHAT_MAX_LENGTH, DATA, MAX_LENGTH, measure, same_rows, tokenizer_dir  # noqa: E402


def as_csv(jsonl: Path, target: Path) -> Path:
    if not target.exists():
        with open(jsonl, encoding="utf-8") as src, open(target, "w", newline="", encoding="utf-8") as dst:
            writer = csv.writer(dst)
            writer.writerow(["prompt", "response"])
            for line in src:
                record = json.loads(line)
                writer.writerow([record["prompt"], record["response"]])
    return target


def cases(records: int, chat_records: int, tok: Path) -> dict[str, list[str]]:
    prompt = DATA / f"bench-{records}.jsonl"
    if not prompt.exists():
        generate(records, prompt)
    one = DATA / "bench-1.jsonl"
    if not one.exists():
        generate(1, one)
    chat = DATA / f"chat-{chat_records}.jsonl"
    if not chat.exists():
        gen_chat.generate(chat_records, chat, None)
    unmarked = str(tok / "chat_template.jinja")
    assistant = ["--strategy", "assistant-only"]
    return {
        f"prompt/response, {records:,} records": [str(prompt), "--max-length", str(MAX_LENGTH)],
        f"prompt/response CSV, {records:,} records": [
            str(as_csv(prompt, DATA / f"bench-{records}.csv")),
            "--max-length",
            str(MAX_LENGTH),
        ],
        "prompt/response, 1 record (start-up)": [str(one), "--max-length", str(MAX_LENGTH)],
        f"chat, {chat_records:,} conversations": [str(chat), "--max-length", str(CHAT_MAX_LENGTH), *assistant],
        f"chat, {chat_records:,} conversations, template without markers": [
            str(chat),
            "--max-length",
            str(CHAT_MAX_LENGTH),
            *assistant,
            "--chat-template",
            unmarked,
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="checkout A (the baseline)")
    parser.add_argument("b", type=Path, help="checkout B")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--chat-records", type=int, default=2_000)
    parser.add_argument("--tokenizer", type=Path, default=None, help="default: bench/data/qwen3_6 (built once)")
    parser.add_argument("--only", nargs="*", default=[], help="run only the cases whose name holds one of these")
    args = parser.parse_args()
    tok = args.tokenizer or tokenizer_dir()
    checkouts = {"A": args.a.resolve(), "B": args.b.resolve()}
    lines = [
        f"A = {checkouts['A']}, B = {checkouts['B']}; {args.repeat} interleaved pairs per case (medians)",
        "",
        "| case | A wall (s) | B wall (s) | B/A wall | A CPU (s) | B CPU (s) | B/A CPU | load | same rows |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, build_args in cases(args.records, args.chat_records, tok).items():
        if args.only and not any(word in name for word in args.only):
            continue
        runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        outs = {key: DATA / f"compare-{key}" for key in checkouts}
        for i in range(args.repeat):
            for key, checkout in checkouts.items():
                print(f"  {name}: {key} ({i + 1}/{args.repeat}) ...", file=sys.stderr, flush=True)
                os.environ["PYTHONPATH"] = str(checkout)
                cmd = [
                    sys.executable,
                    "-P",
                    "-m",
                    "sftmask",
                    "build",
                    *build_args,
                    "-t",
                    str(tok),
                    "-o",
                    str(outs[key]),
                ]
                runs[key].append(measure([*cmd, "--quiet", "--overwrite"]))
        same = same_rows(sorted(outs["A"].glob("*.parquet")), sorted(outs["B"].glob("*.parquet")))
        med = {
            key: {m: statistics.median(r[m] for r in runs[key]) for m in ("wall_s", "cpu_s", "load")} for key in runs
        }
        lines.append(
            f"| {name} | {med['A']['wall_s']:.2f} | {med['B']['wall_s']:.2f} | "
            f"{med['B']['wall_s'] / med['A']['wall_s']:.2f}x | {med['A']['cpu_s']:.2f} | {med['B']['cpu_s']:.2f} | "
            f"{med['B']['cpu_s'] / med['A']['cpu_s']:.2f}x | {statistics.median([med['A']['load'], med['B']['load']]):.1f} | "
            f"{'yes' if same else 'NO'} |"
        )
        for out in outs.values():
            shutil.rmtree(out, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
