"""Start-up: a 1-record prompt/response `sftmask build` against the lean script (`bench/lean.py`)
on the same record, in interleaved pairs (sftmask, lean, sftmask, lean, ...), and the lean script
behind the thinnest Typer + pydantic command line (`bench/lean_cli.py`): what that design costs by
itself.

CPU time is user + system of the process and of every process it waited for (`os.wait4`): the
CLI runs the build in a forked child (`sftmask/cli/supervisor.py`), whose time counts. Each run's
1-minute load average is kept (the machine may be shared). Also a bare "load the tokenizer,
encode one line" script, for scale.

    python bench/startup.py [--repeat 5] [--data FILE] [--other CHECKOUT]

Prints the median and min-max CPU and wall seconds of each, and the median of the per-pair ratios
sftmask / lean.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from bench.agentic import compile_checkout  # noqa: E402
from bench.agentic import measure as measure_with_rss  # noqa: E402
from bench.gen_data import generate  # noqa: E402
from bench.run_bench import DATA, MAX_LENGTH, _sftmask, tokenizer_dir  # noqa: E402

BARE = """
import sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
print(len(tok.encode("one line of text").ids))
"""


def measure(cmd: list[str], checkout: Path = ROOT) -> tuple[float, float, float]:
    """(CPU seconds incl. waited-for children, wall seconds, 1-minute load average) of one run."""
    cpu, wall, load, _ = measure_with_rss(cmd, checkout)
    return cpu, wall, load


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None, help="prompt/response JSONL (default: 1 generated record)")
    parser.add_argument("--other", type=Path, default=None, help="also time the build of this checkout (e.g. main)")
    args = parser.parse_args()
    data = args.data or DATA / "bench-1.jsonl"
    if not data.exists():
        generate(1, data)
    tok = tokenizer_dir()
    py = sys.executable
    checkouts = [ROOT] if args.other is None else [ROOT, args.other.resolve()]
    for checkout in checkouts:  # timed as installed: compiled (PYTHONDONTWRITEBYTECODE would recompile each run)
        compile_checkout(checkout)
    with tempfile.TemporaryDirectory() as tmp:
        variants = {
            "sftmask build": (_sftmask(data, tok, Path(tmp) / "out", MAX_LENGTH), ROOT),
            "lean script": (
                [py, str(BENCH / "lean.py"), str(data), str(tok), f"{tmp}/lean.parquet", str(MAX_LENGTH)],
                ROOT,
            ),
            "lean script + Typer": (
                [py, str(BENCH / "lean_cli.py"), *_sftmask(data, tok, Path(tmp) / "lean_cli", MAX_LENGTH)[3:]],
                ROOT,
            ),
            "bare script": ([py, "-c", BARE, str(tok)], ROOT),
        }
        if args.other is not None:
            variants["sftmask build (other)"] = (
                _sftmask(data, tok, Path(tmp) / "other", MAX_LENGTH),
                args.other.resolve(),
            )
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
        for i in range(args.repeat):
            for name, (cmd, checkout) in variants.items():
                runs[name].append(measure(cmd, checkout))
                print(f"  {name} {i + 1}/{args.repeat}: cpu {runs[name][-1][0]:.3f} s", file=sys.stderr)
    print(f"{'variant':<22} {'CPU s median (min-max)':<26} {'wall s median (min-max)':<26} load")
    for name, values in runs.items():
        cpu, wall, load = zip(*values, strict=True)
        print(f"{name:<22} {summary(list(cpu)):<26} {summary(list(wall)):<26} {summary(list(load))}")
    for base in ("lean script", "lean script + Typer"):
        for name in [n for n in runs if n.startswith("sftmask") or (n.startswith("lean") and n != base)]:
            ratios = [a[0] / b[0] for a, b in zip(runs[name], runs[base], strict=True)]
            low, high = min(ratios), max(ratios)
            print(f"{name} / {base} CPU, per pair: median {statistics.median(ratios):.3f}x ({low:.3f}-{high:.3f})")


if __name__ == "__main__":
    main()
