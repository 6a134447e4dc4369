"""Measure how much memory tokenizing a text whole takes, per character and per UTF-8 byte.

Each run is `sftmask build` in its own process on one record whose response holds N characters
(no --max-length, so the response is encoded whole; --max-chars raised past it); the peak RSS of
a run on a 1,000-character record is subtracted. The slope is what `sftmask.limits.ENCODE_BYTES_PER_BYTE`
must cover: a record needing more than the memory budget is rejected before it is tokenized.

    python bench/encode_memory.py                         # the test tokenizers (SFTMASK_TEST_CACHE)
    python bench/encode_memory.py --chars 8000000 DIR...  # other tokenizer folders, another size
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPTS = {
    "latin": [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "a",
        "lazy",
        "dog",
        "while",
        "über",
        "naïve",
        "cafés",
        "12",
        "34",
    ],
    "cjk": ["数据", "处理", "东京", "日本語", "한국어", "문장", "模型", "训练", "的", "是"],
    "emoji": ["🌊", "😀", "🚀", "👍🏽", "🇫🇷", "🎉"],
}


def text_of(script: str, chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words, size, out = SCRIPTS[script], 0, []
    while size < chars:
        word = rng.choice(words)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def peak_rss(tokenizer: Path, text: str, work: Path) -> int:
    """Peak RSS (bytes) of one build of one record holding `text` as its response."""
    data = work / "in.jsonl"
    data.write_text(json.dumps({"prompt": "Summarise:", "response": text}) + "\n")
    out = work / "out"
    cmd = [sys.executable, "-m", "sftmask", "build", str(data), "-t", str(tokenizer), "-o", str(out)]
    cmd += ["--overwrite", "--no-add-eos", "--max-chars", str(len(text) + 100)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return int(usage.ru_maxrss) * 1024


def default_tokenizers() -> list[Path]:
    cache = Path(os.environ.get("SFTMASK_TEST_CACHE", Path.home() / ".cache" / "sftmask-tests")) / "tokenizers"
    return sorted(p.parent for p in cache.glob("*/*/tokenizer.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tokenizers", nargs="*", type=Path, help="tokenizer folders (default: the test cache's)")
    parser.add_argument("--chars", type=int, default=4_000_000, help="characters of the big response")
    parser.add_argument("--scripts", default=",".join(SCRIPTS), help="which texts: latin, cjk, emoji")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.chars:,} characters; MiB of peak RSS above a small record")
    print(f"{'tokenizer':<40} {'script':<6} {'UTF-8 MB':>9} {'extra MiB':>9} {'B/char':>7} {'B/byte':>7}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for tokenizer in args.tokenizers or default_tokenizers():
            base = peak_rss(tokenizer, text_of("latin", 1000), work)
            for script in args.scripts.split(","):
                text = text_of(script, args.chars)
                size = len(text.encode())
                extra = peak_rss(tokenizer, text, work) - base
                worst = max(worst, extra / size)
                print(
                    f"{tokenizer.name[:40]:<40} {script:<6} {size / 1e6:>9.1f} {extra / 2**20:>9.0f} "
                    f"{extra / len(text):>7.0f} {extra / size:>7.0f}"
                )
    print(f"worst: {worst:.0f} bytes of memory per UTF-8 byte of text")


if __name__ == "__main__":
    main()
