"""Compare `sftmask build` on chat data between two checkouts (a branch against main), in
interleaved pairs (A B A B ...), CPU time (user + system of the build process) and wall time.

Both chat rows of `run_bench.py`: the tokenizer's template (replaced by the shipped marked ChatML
twin) and the same template given as a file (no markers: assistant turns located). With
`--prompt-response`, also prompt/response records as JSONL and as CSV (`--records N`) and one record
(start-up). Each pair's rows are compared: the two checkouts must build the same rows.

    python bench/compare_checkouts.py OTHER_CHECKOUT [--chat-records N] [--repeat R] [--prompt-response [--no-chat]]

Prints, per variant, the median CPU and wall seconds of each checkout and their ratio
(this checkout / the other); the 1-minute load average before each run is kept.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from bench import gen_chat  # noqa: E402
from bench.gen_data import generate  # noqa: E402
from bench.run_bench import CHAT_MAX_LENGTH, DATA, MAX_LENGTH, _sftmask, same_rows, tokenizer_dir  # noqa: E402


def timed(command: list[str], checkout: Path) -> tuple[float, float, float]:
    """(CPU seconds, wall seconds, load average) of one run with `checkout` first on the path."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(checkout)}, cwd=checkout)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, load


def as_csv(jsonl: Path, target: Path) -> Path:
    """The prompt/response records of `jsonl` as a CSV file (made once)."""
    if not target.exists():
        with open(jsonl, encoding="utf-8") as src, open(target, "w", newline="", encoding="utf-8") as dst:
            writer = csv.writer(dst)
            writer.writerow(["prompt", "response"])
            for line in src:
                record = json.loads(line)
                writer.writerow([record["prompt"], record["response"]])
    return target


def prompt_response_inputs(records: int) -> dict[str, tuple[Path, int]]:
    """The prompt/response rows: name -> (input, max length)."""
    data = DATA / f"bench-{records}.jsonl"
    if not data.exists():
        generate(records, data)
    one = DATA / "bench-1.jsonl"
    if not one.exists():
        generate(1, one)
    return {
        f"prompt/response ({records:,} records)": (data, MAX_LENGTH),
        f"prompt/response CSV ({records:,} records)": (as_csv(data, DATA / f"bench-{records}.csv"), MAX_LENGTH),
        "prompt/response (1 record: start-up)": (one, MAX_LENGTH),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the checkout to compare with (e.g. the main worktree)")
    parser.add_argument("--chat-records", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--located-only", action="store_true", help="only the row with the template file")
    parser.add_argument("--prompt-response", action="store_true", help="also the prompt/response rows")
    parser.add_argument("--no-chat", action="store_true", help="without the chat rows (with --prompt-response)")
    parser.add_argument("--records", type=int, default=10_000, help="prompt/response records")
    args = parser.parse_args()
    data = DATA / f"chat-{args.chat_records}.jsonl"
    if not data.exists() and not args.no_chat:
        gen_chat.generate(args.chat_records, data, None)
    tok = tokenizer_dir()
    out = DATA / "out-compare"
    chat = ["--strategy", "assistant-only"]
    variants = {
        "chat (tokenizer's template)": (data, CHAT_MAX_LENGTH, chat),
        "chat (template file, located)": (
            data,
            CHAT_MAX_LENGTH,
            [*chat, "--chat-template", str(tok / "chat_template.jinja")],
        ),
    }
    checkouts = {"this": ROOT, "other": args.other.resolve()}
    if args.located_only:
        variants.pop("chat (tokenizer's template)")
    if args.no_chat:
        variants = {}
    if args.prompt_response:
        variants = {name: (path, n, []) for name, (path, n) in prompt_response_inputs(args.records).items()} | variants
    for name, (source, max_length, extra) in variants.items():
        runs: dict[str, list[tuple[float, float, float]]] = {key: [] for key in checkouts}
        outs = {key: out.with_name(f"{out.name}-{key}") for key in checkouts}
        for _ in range(args.repeat):
            for key, checkout in checkouts.items():
                runs[key].append(timed(_sftmask(source, tok, outs[key], max_length, *extra), checkout))
        same = same_rows(sorted(outs["this"].glob("*.parquet")), sorted(outs["other"].glob("*.parquet")))
        cpu = {key: statistics.median(r[0] for r in rs) for key, rs in runs.items()}
        wall = {key: statistics.median(r[1] for r in rs) for key, rs in runs.items()}
        loads = [round(r[2], 1) for rs in runs.values() for r in rs]
        print(
            f"{name}: CPU {cpu['this']:.2f}s vs {cpu['other']:.2f}s ({cpu['this'] / cpu['other']:.3f}x), "
            f"wall {wall['this']:.2f}s vs {wall['other']:.2f}s ({wall['this'] / wall['other']:.3f}x); "
            f"load {min(loads)}-{max(loads)}; same rows: {'yes' if same else 'NO'}"
        )
        for key, rs in runs.items():
            print(f"  {key}: " + ", ".join(f"{cpu:.2f}/{wall:.2f}s" for cpu, wall, _ in rs))


if __name__ == "__main__":
    main()
