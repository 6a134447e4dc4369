"""Time finding assistant spans in long conversations: located in the final rendering (two
renderings per conversation) against prefix analysis (two renderings per assistant turn).

Usage: python bench/chat_spans.py TOKENIZER_DIR [TEMPLATE.jinja]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sftmask.chat.render import ChatRenderer
from sftmask.tokenization.load import load_tokenizer

CHATML = Path(__file__).resolve().parent.parent / "tests" / "data" / "chat_templates" / "chatml.jinja"


def conversation(pairs: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i in range(pairs):
        messages.append({"role": "user", "content": f"question {i} about the data"})
        messages.append({"role": "assistant", "content": f"answer {i}, in a few words"})
    return messages


def main(tokenizer: str, template: Path) -> None:
    renderer = ChatRenderer(load_tokenizer(tokenizer).hf, template.read_text(encoding="utf-8"))
    for pairs in (1, 4, 16, 64):
        conv = conversation(pairs)
        repeats = max(1, 200 // pairs)
        start = time.perf_counter()
        for _ in range(repeats):
            located = renderer.analyse(conv)
        located_s = (time.perf_counter() - start) / repeats
        start = time.perf_counter()
        for _ in range(repeats):
            prefixes = renderer._analyse_prefixes(conv, None, renderer.render(conv))
        prefix_s = (time.perf_counter() - start) / repeats
        assert located.spans == prefixes.spans
        print(f"{2 * pairs:4d} messages: located {located_s * 1e3:7.2f} ms, prefix analysis {prefix_s * 1e3:8.2f} ms")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else CHATML)
