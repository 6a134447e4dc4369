"""Generate deterministic multi-turn conversations (OpenAI `messages`) for the chat benchmark.

ShareGPT-like: an optional system prompt, then user/assistant exchanges (7 turns per conversation
on average, 2 to 16 messages), texts from `gen_data`'s generators (shorter user turns). With
`turns=K` every conversation has exactly K messages of a few words each (agent-like traces), for
the scaling rows. Usage:
    python bench/gen_chat.py N OUT.jsonl [TURNS]
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from bench.gen_data import SYSTEM_PROMPTS, paragraph, response, sentence


def conversation(rng: random.Random, turns: int | None) -> list[dict[str, str]]:
    if turns is not None:  # short messages, user/assistant alternating, ending with the assistant
        first = "user" if turns % 2 == 0 else "system"
        roles = [first] + ["assistant" if (i % 2 == 1) == (first == "user") else "user" for i in range(1, turns)]
        return [{"role": role, "content": sentence(rng)} for role in roles]
    messages = []
    if rng.random() < 0.4:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS).strip()})
    exchanges = max(1, min(8, round(rng.gauss(3.3, 1.8))))
    for _ in range(exchanges):
        user = paragraph(rng, min(400, max(4, int(rng.lognormvariate(3.6, 0.9)))))
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": response(rng)})
    return messages


def generate(n: int, path: Path, turns: int | None = None, seed: int = 4321) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "messages": conversation(rng, turns)}, ensure_ascii=False) + "\n")
    tmp.rename(path)
    return path


if __name__ == "__main__":
    generate(int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
