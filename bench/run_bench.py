"""Benchmark `sftmask build` against lean limits, `datasets.map` pipelines, TRL and a per-record loop.

Each variant runs in its own process; wall time, CPU time (user + system) and peak RSS (of that process)
are measured in the same run, on the same data, with the Qwen3.6 tokenizer rebuilt offline. With
`--repeat N` the variants of a group run interleaved (A B C A B C ...) and the table shows medians,
the CPU's min-max, and the min-max of each run's CPU over the lean limit's run of the same round
(per pair); the 1-minute load average before each run is reported too (the machine may be shared),
and the tokenizer's normalizer is named. CPU time is user + system of the process and of every
process it waited for (`os.wait4`).

Groups:
- prompt/response at each `--records` N (N = 1 measures start-up): `sftmask build` and the lean
  limit (`bench/lean.py`); from N >= 1000 also `--num-proc 2`, `--engine ray`, `datasets.map`
  (`bench/hf_map.py`) and a per-record loop (`bench/loop.py`);
- chat (`--chat-records` conversations, ~7 messages each, assistant-only, max length 4096):
  `sftmask build` with the tokenizer's template (which it replaces by the shipped marked ChatML
  twin) and with the same template given as a file (no markers: assistant turns located),
  the lean chat limit (`bench/lean_chat.py`), `datasets.map` + `apply_chat_template`
  (`bench/hf_map_chat.py`) and TRL's `SFTTrainer` preparation (`bench/trl_prep.py`, when torch
  and trl import);
- chat scaling: `--scaling-messages` short messages split into conversations of each `--turns` K.

    python bench/run_bench.py                                  # the README table
    python bench/run_bench.py --records 2000 --chat-records 200 --turns 8 --repeat 1   # a quick check
    python bench/run_bench.py --big-file-gb 2                  # also: sftmask on a ~2 GB input
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
MAX_LENGTH = 2048
CHAT_MAX_LENGTH = 4096
MARKERS_TEMPLATE = ROOT / "sftmask" / "chat" / "templates" / "chatml.jinja"  # ChatML with {% generation %} markers
"""Qwen's ChatML (the same text as the tokenizer's template) with `{% generation %}` markers."""

sys.path.insert(0, str(ROOT))
from bench import gen_chat  # noqa: E402
from bench.gen_data import generate  # noqa: E402


def tokenizer_dir() -> Path:
    folder = DATA / "qwen3_6"
    if not (folder / "tokenizer.json").exists():
        from tests.tokenizers_offline import build_qwen

        build_qwen(folder)
    return folder


def measure(cmd: list[str]) -> dict[str, float]:
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}\n{err[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "load": load,
    }


@dataclass
class Variant:
    name: str
    cmd: list[str]
    output: Path
    """A sftmask output directory, or one Parquet file."""
    lean: bool = False
    """The group's reference (time / lean = 1.00x)."""
    same_as: str | None = None
    """Check its rows against this variant's (None: it is the group's sftmask output)."""
    clear: Path | None = None
    """Removed before each run (caches that would make repeats cheaper)."""

    def shards(self) -> list[Path]:
        if self.output.is_dir():
            return sorted(self.output.glob("*.parquet"))  # train-00000-of-..., in order
        return [self.output]


def _sftmask(data: Path, tok: Path, out: Path, max_length: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sftmask",
        "build",
        str(data),
        "-t",
        str(tok),
        "-o",
        str(out),
        "--max-length",
        str(max_length),
        "--quiet",
        "--overwrite",
        *extra,
    ]


def prompt_response_variants(data: Path, tok: Path, out: Path, n: int) -> list[Variant]:
    py, sft = sys.executable, "sftmask build"
    lean_out = out / "lean.parquet"
    variants = [
        Variant(sft, _sftmask(data, tok, out / "sftmask", MAX_LENGTH), out / "sftmask"),
        Variant(
            "lean limit",
            [py, str(BENCH / "lean.py"), str(data), str(tok), str(lean_out), str(MAX_LENGTH)],
            lean_out,
            lean=True,
            same_as=sft,
        ),
    ]
    if n < 1000:  # start-up: the other variants' start-up is not what is compared
        return variants
    map_dir = out / "map"
    return [
        *variants,
        Variant(
            f"{sft} --num-proc 2",
            _sftmask(data, tok, out / "np2", MAX_LENGTH, "--num-proc", "2"),
            out / "np2",
            same_as=sft,
        ),
        # Starts a local Ray with this machine's CPUs (start-up included in the time); CPU time
        # and peak RSS are the driver's only: Ray's worker processes are not its children.
        Variant(
            f"{sft} --engine ray",
            _sftmask(data, tok, out / "ray", MAX_LENGTH, "--engine", "ray"),
            out / "ray",
            same_as=sft,
        ),
        Variant(
            "datasets.map",
            [py, str(BENCH / "hf_map.py"), str(data), str(tok), str(map_dir), str(MAX_LENGTH)],
            map_dir / "train.parquet",
            same_as=sft,
            clear=map_dir,
        ),
        Variant(
            "per-record loop",
            [py, str(BENCH / "loop.py"), str(data), str(tok), str(out / "loop.parquet"), str(MAX_LENGTH)],
            out / "loop.parquet",
            same_as=sft,
        ),
    ]


def trl_available() -> bool:
    return subprocess.run([sys.executable, "-c", "import torch, trl"], capture_output=True).returncode == 0


def chat_variants(data: Path, tok: Path, out: Path, *, full: bool) -> list[Variant]:
    py, sft = sys.executable, "sftmask build (chat)"
    template = str(MARKERS_TEMPLATE)
    strategy = ("--strategy", "assistant-only")
    script_args = [str(data), str(tok), template]
    # The tokenizer's own template, given as a file, is used as it is: its assistant turns are
    # located in the rendering (without --chat-template it is replaced by the marked twin).
    unmarked = str(tok / "chat_template.jinja")
    lean_out = out / "lean_chat.parquet"
    variants = [
        Variant(sft, _sftmask(data, tok, out / "chat", CHAT_MAX_LENGTH, *strategy), out / "chat"),
        Variant(
            f"{sft}, template without markers",
            _sftmask(data, tok, out / "chat-located", CHAT_MAX_LENGTH, *strategy, "--chat-template", unmarked),
            out / "chat-located",
            same_as=sft,
        ),
        Variant(
            "lean chat limit",
            [py, str(BENCH / "lean_chat.py"), *script_args, str(lean_out), str(CHAT_MAX_LENGTH)],
            lean_out,
            lean=True,
            same_as=sft,
        ),
    ]
    if not full:
        return variants
    map_dir = out / "map-chat"
    variants.append(
        Variant(
            "datasets.map + apply_chat_template",
            [py, str(BENCH / "hf_map_chat.py"), *script_args, str(map_dir), str(CHAT_MAX_LENGTH)],
            map_dir / "train.parquet",
            same_as=sft,
            clear=map_dir,
        )
    )
    if trl_available():
        trl_out = out / "trl.parquet"
        variants.append(
            Variant(
                "TRL 1.16 SFTTrainer preparation",
                [py, str(BENCH / "trl_prep.py"), *script_args, str(trl_out), str(CHAT_MAX_LENGTH)],
                trl_out,
                same_as=sft,
            )
        )
    return variants


def _rows(paths: list[Path]) -> Iterator[tuple[list[int], list[int]]]:
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1000, columns=["input_ids", "labels"]):
            yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


def same_rows(a: list[Path], b: list[Path]) -> bool:
    """Compare input_ids and labels, row by row, of two outputs (each a list of shards in order)."""
    return all(x == y for x, y in zip(_rows(a), _rows(b), strict=True))


def run_group(
    group: str, records: int, variants: list[Variant], repeat: int, skip: set[str]
) -> list[dict[str, object]]:
    variants = [v for v in variants if v.name not in skip]
    runs: dict[str, list[dict[str, float]]] = {v.name: [] for v in variants}
    for i in range(repeat):
        for v in variants:  # interleaved: A B C A B C ...
            print(f"  {group}, {records:,}: {v.name} ({i + 1}/{repeat}) ...", file=sys.stderr, flush=True)
            if v.clear is not None:
                shutil.rmtree(v.clear, ignore_errors=True)
                v.clear.mkdir(parents=True)
            runs[v.name].append(measure(v.cmd))
    main = next(v for v in variants if v.same_as is None)
    manifest = json.loads((main.output / "manifest.json").read_text())
    lean = next((v for v in variants if v.lean), None)
    results = []
    for v in variants:
        r: dict[str, object] = {"group": group, "variant": v.name, "records": records, "runs": len(runs[v.name])}
        for key in ("wall_s", "cpu_s", "load"):
            r[key] = statistics.median(m[key] for m in runs[v.name])
            r[f"{key}_min"] = min(m[key] for m in runs[v.name])
            r[f"{key}_max"] = max(m[key] for m in runs[v.name])
        r["peak_rss_mib"] = max(m["peak_rss_mib"] for m in runs[v.name])
        r["tokens"] = manifest["counts"]["tokens"]
        r["same_rows_as_sftmask"] = None if v.same_as is None else same_rows(main.shards(), v.shards())
        results.append(r)
    if lean is not None:
        base = next(r for r in results if r["variant"] == lean.name)
        for r in results:
            r["ratio_to_lean"] = float(r["wall_s"]) / float(base["wall_s"])  # type: ignore[arg-type]
            r["cpu_ratio_to_lean"] = float(r["cpu_s"]) / float(base["cpu_s"])  # type: ignore[arg-type]
            # per interleaved pair (run i of this variant against run i of the lean limit)
            pairs = [m["cpu_s"] / b["cpu_s"] for m, b in zip(runs[str(r["variant"])], runs[lean.name], strict=True)]
            r["cpu_pair_ratio_min"], r["cpu_pair_ratio_max"] = min(pairs), max(pairs)
    return results


def run(n: int, skip: set[str], repeat: int = 1) -> list[dict[str, object]]:
    data = DATA / f"bench-{n}.jsonl"
    if not data.exists():
        generate(n, data)
    out = DATA / f"out-{n}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    results = run_group("prompt/response", n, prompt_response_variants(data, tokenizer_dir(), out, n), repeat, skip)
    shutil.rmtree(out, ignore_errors=True)
    return results


def run_chat(n: int, turns: int | None, skip: set[str], repeat: int) -> list[dict[str, object]]:
    suffix = "" if turns is None else f"-k{turns}"
    data = DATA / f"chat-{n}{suffix}.jsonl"
    if not data.exists():
        gen_chat.generate(n, data, turns)
    out = DATA / f"out-chat-{n}{suffix}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    group = "chat" if turns is None else f"chat, {turns} messages each"
    results = run_group(group, n, chat_variants(data, tokenizer_dir(), out, full=turns is None), repeat, skip)
    shutil.rmtree(out, ignore_errors=True)
    return results


def big_file(gb: float) -> dict[str, object]:
    """sftmask alone on a ~`gb` GB input (peak RSS must stay flat)."""
    n = int(gb * 1e9 / 3700)  # ~3.7 kB per generated record
    data = DATA / f"bench-{n}.jsonl"
    if not data.exists():
        generate(n, data)
    out = DATA / "out-big"
    cmd = _sftmask(data, tokenizer_dir(), out / "sftmask", MAX_LENGTH)
    print(f"  big file {data.stat().st_size / 1e9:.2f} GB: sftmask build ...", file=sys.stderr, flush=True)
    result: dict[str, object] = {"group": "big file", "records": n, "runs": 1, **measure(cmd)}
    result["variant"] = f"sftmask build, {data.stat().st_size / 1e9:.2f} GB input"
    result["tokens"] = json.loads((out / "sftmask" / "manifest.json").read_text())["counts"]["tokens"]
    shutil.rmtree(out, ignore_errors=True)
    return result


def _num(r: dict[str, object], key: str) -> float:
    value = r[key]
    assert isinstance(value, int | float), key
    return float(value)


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| data | records | variant | wall (s) | CPU (s) | CPU min-max | records/s | tokens/s | peak RSS (MiB) "
        "| wall / lean | CPU / lean | CPU / lean, pairs | load | same rows |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        wall = float(r["wall_s"])  # type: ignore[arg-type]
        ratio = f"{float(r['ratio_to_lean']):.2f}x" if "ratio_to_lean" in r else ""  # type: ignore[arg-type]
        cpu_ratio = f"{float(r['cpu_ratio_to_lean']):.2f}x" if "cpu_ratio_to_lean" in r else ""  # type: ignore[arg-type]
        same = {True: "yes", False: "NO", None: ""}[r.get("same_rows_as_sftmask")]  # type: ignore[index]
        spread = f"{_num(r, 'cpu_s_min'):.2f}-{_num(r, 'cpu_s_max'):.2f}" if "cpu_s_min" in r else ""
        pairs = (
            f"{_num(r, 'cpu_pair_ratio_min'):.2f}-{_num(r, 'cpu_pair_ratio_max'):.2f}"
            if "cpu_pair_ratio_min" in r
            else ""
        )
        load = f"{_num(r, 'load_min'):.1f}-{_num(r, 'load_max'):.1f}" if "load_min" in r else f"{_num(r, 'load'):.1f}"
        lines.append(
            f"| {r['group']} | {int(r['records']):,} | {r['variant']} | {wall:.2f} | {float(r['cpu_s']):.2f} | "  # type: ignore[call-overload,arg-type]
            f"{spread} | {int(r['records']) / wall:,.0f} | "  # type: ignore[call-overload]
            f"{int(r['tokens']) / wall:,.0f} | {float(r['peak_rss_mib']):,.0f} | {ratio} | {cpu_ratio} | "  # type: ignore[call-overload,arg-type]
            f"{pairs} | {load} | {same} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="*", default=[1, 10_000], help="prompt/response data set sizes")
    parser.add_argument("--chat-records", type=int, default=5_000, help="conversations (0: no chat rows)")
    parser.add_argument("--turns", type=int, nargs="*", default=[8, 32, 128, 512], help="messages per conversation")
    parser.add_argument("--scaling-messages", type=int, default=16_384, help="messages per scaling data set")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant, interleaved; medians reported")
    parser.add_argument("--skip", nargs="*", default=[], help="variant names to skip, e.g. 'per-record loop'")
    parser.add_argument("--big-file-gb", type=float, default=0.0)
    args = parser.parse_args()
    skip = set(args.skip)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = []
    for n in args.records:
        results += run(n, skip, args.repeat)
    if args.chat_records:
        results += run_chat(args.chat_records, None, skip, args.repeat)
    for turns in args.turns:
        results += run_chat(max(1, args.scaling_messages // turns), turns, skip, args.repeat)
    if args.big_file_gb:
        results.append(big_file(args.big_file_gb))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"
    normalizer = json.loads((tokenizer_dir() / "tokenizer.json").read_text()).get("normalizer")
    print(
        f"Machine: {machine}; run of {started}, {args.repeat} interleaved run(s) per variant (medians, "
        f"min-max); max length {MAX_LENGTH} (chat {CHAT_MAX_LENGTH}); Qwen3.6 byte-level BPE tokenizer, "
        f"normalizer {json.dumps(normalizer)}\n"
    )
    print(table(results))
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "latest.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
