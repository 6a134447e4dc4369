"""Agentic chat: conversations that share one long system prompt and the same tool schemas.

The set (`generate`): N conversations (default 3,000), each with the same ~1,500-token head (a
system prompt and 8 function schemas, rendered by the Qwen3 template's tools block) and a short
exchange of its own (~150-300 tokens: user, assistant, user, assistant); Qwen3.6 tokenizer,
shipped `qwen3` template (marked), `--strategy assistant-only`.

Variants, run as interleaved repeats (A B C A B C ...), CPU time = user + system of the process
and the processes it waited for (the CLI's supervised child):
- `sftmask build` of this checkout;
- with `--other CHECKOUT`, `sftmask build` of that checkout (e.g. main), whose rows must equal
  this checkout's, row by row;
- the floor: each conversation rendered once by the same template (Jinja with transformers'
  options) and the renderings encoded whole with `encode_batch_fast` (no offsets, no labels,
  nothing written): what encoding every rendering costs at least.

    python bench/agentic.py [--records 3000] [--repeat 3] [--other /work/main]
    python bench/agentic.py --floor INPUT.jsonl TOKENIZER_DIR TEMPLATE   # the floor alone

Prints per variant the median and min-max CPU and wall seconds, the load average, and the
median of per-repeat ratios to the floor; the tokenizer's normalizer is named.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from bench.gen_data import paragraph, response, sentence  # noqa: E402
from bench.run_bench import DATA, same_rows, tokenizer_dir  # noqa: E402

TEMPLATE = ROOT / "sftmask" / "chat" / "templates" / "qwen3.jinja"
MAX_LENGTH = 4096


def _tool(rng: random.Random, name: str) -> dict[str, Any]:
    properties = {
        f"{name}_{k}": {"type": rng.choice(["string", "integer", "boolean"]), "description": sentence(rng)}
        for k in range(rng.randint(2, 4))
    }
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": paragraph(rng, 25),
            "parameters": {"type": "object", "properties": properties, "required": list(properties)[:1]},
        },
    }


def generate(n: int, path: Path, seed: int = 2727) -> Path:
    """N conversations sharing one system prompt and one list of tools (deterministic)."""
    rng = random.Random(seed)
    system = "\n\n".join(paragraph(rng, 70) for _ in range(4))
    names = ["search_web", "read_file", "write_file", "run_python", "send_email", "get_weather", "query_db"]
    tools = [_tool(rng, name) for name in names]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for i in range(n):
            messages = [{"role": "system", "content": system}]
            for _ in range(2):
                messages.append({"role": "user", "content": paragraph(rng, rng.randint(15, 50))})
                messages.append({"role": "assistant", "content": response(rng)[: rng.randint(250, 600)]})
            f.write(json.dumps({"id": i, "messages": messages, "tools": tools}, ensure_ascii=False) + "\n")
    tmp.rename(path)
    return path


def floor(src: Path, tok_dir: Path, template_file: Path) -> None:
    """Render every conversation once and encode the renderings whole (`encode_batch_fast`)."""
    import jinja2
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from tokenizers import Tokenizer

    class Generation(Extension):  # the markers, as transformers treats them when not asked for masks
        tags = {"generation"}  # noqa: RUF012

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_pass"), [], [], body).set_lineno(lineno)

        def _pass(self, caller: Any) -> str:
            return caller()  # type: ignore[no-any-return]

    def tojson(value: Any, indent: int | None = None) -> str:  # transformers' filter
        return json.dumps(value, ensure_ascii=False, indent=indent)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    template = env.from_string(template_file.read_text(encoding="utf-8"))
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    tokens = 0
    with open(src, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    for start in range(0, len(records), 1000):
        batch = records[start : start + 1000]
        texts = [template.render(messages=r["messages"], tools=r["tools"], add_generation_prompt=False) for r in batch]
        tokens += sum(len(e.ids) for e in tok.encode_batch_fast(texts, add_special_tokens=False))
    print(f"{len(records)} renderings, {tokens} tokens")


PYCACHE = Path(tempfile.gettempdir()) / "sftmask-bench-pycache"
"""Bytecode of every checkout run, kept apart from the checkouts (`PYTHONPYCACHEPREFIX`): each
runs compiled, as an installed package does, whatever PYTHONDONTWRITEBYTECODE says."""


def bench_env(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(checkout), "PYTHONPYCACHEPREFIX": str(PYCACHE), "TRANSFORMERS_VERBOSITY": "error"}


def compile_checkout(checkout: Path) -> None:
    """Write the checkout's bytecode (into `PYCACHE`) before it is timed."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(checkout / "sftmask")], env=bench_env(checkout), check=True
    )


def measure(cmd: list[str], checkout: Path) -> tuple[float, float, float, float]:
    """(CPU s of the process and the processes it waited for, wall s, 1-minute load average, peak
    RSS in MiB of the largest of those processes)."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    env = bench_env(checkout)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=checkout)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}\n{err[-3000:]}")
    return usage.ru_utime + usage.ru_stime, wall, load, usage.ru_maxrss / 1024


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--other", type=Path, default=None, help="another checkout to build with (e.g. main)")
    parser.add_argument("--floor", nargs=3, metavar=("INPUT", "TOKENIZER", "TEMPLATE"), help="run the floor alone")
    args = parser.parse_args()
    if args.floor:
        floor(Path(args.floor[0]), Path(args.floor[1]), Path(args.floor[2]))
        return
    data = DATA / f"agentic-{args.records}.jsonl"
    if not data.exists():
        generate(args.records, data)
    tok = tokenizer_dir()
    spec = json.loads((tok / "tokenizer.json").read_text(encoding="utf-8"))
    print(f"tokenizer {tok.name}: normalizer {json.dumps(spec.get('normalizer'))}; template {TEMPLATE.name}")
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:

        def build(checkout: Path, out: str) -> list[str]:
            return [
                *(py, "-m", "sftmask", "build", str(data), "-t", str(tok), "-o", f"{tmp}/{out}"),
                *("--chat-template", "qwen3", "--strategy", "assistant-only", "--max-length", str(MAX_LENGTH)),
                *("--quiet", "--overwrite"),
            ]

        variants: dict[str, tuple[list[str], Path]] = {"sftmask build": (build(ROOT, "this"), ROOT)}
        if args.other is not None:
            variants[f"sftmask build ({args.other})"] = (build(args.other, "other"), args.other.resolve())
        variants["floor: render + encode_batch_fast"] = (
            [py, str(BENCH / "agentic.py"), "--floor", str(data), str(tok), str(TEMPLATE)],
            ROOT,
        )
        for _, checkout in variants.values():
            compile_checkout(checkout)
        runs: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in variants}
        for i in range(args.repeat):
            for name, (cmd, checkout) in variants.items():
                runs[name].append(measure(cmd, checkout))
                print(f"  {name} {i + 1}/{args.repeat}: cpu {runs[name][-1][0]:.2f} s", file=sys.stderr, flush=True)
        same = None
        if args.other is not None:
            shards = [sorted(Path(tmp, out).glob("*.parquet")) for out in ("this", "other")]
            same = same_rows(shards[0], shards[1])
    floor_runs = runs["floor: render + encode_batch_fast"]
    print(f"{args.records:,} conversations, {args.repeat} interleaved repeats")
    header = f"{'variant':<44} {'CPU s median (min-max)':<24} {'wall s median (min-max)':<24} {'load':<18}"
    print(f"{header} {'CPU/floor':<18} peak RSS MiB")
    for name, values in runs.items():
        cpu, wall, load, rss = (list(v) for v in zip(*values, strict=True))
        ratios = [a[0] / b[0] for a, b in zip(values, floor_runs, strict=True)]
        print(
            f"{name:<44} {_summary(cpu):<24} {_summary(wall):<24} {_summary(load):<18} "
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) {max(rss):8.0f}"
        )
    if same is not None:
        print(f"rows of the two checkouts identical: {same}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
