"""Generate a deterministic, realistic prompt/response JSONL data set for the benchmark.

Prompts run from a few words to ~1,000 words (median a few hundred); responses are
multi-paragraph with code, lists, non-Latin scripts and emoji. Usage:
    python bench/gen_data.py N OUT.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

WORDS = [
    "the",
    "model",
    "data",
    "training",
    "loss",
    "token",
    "sequence",
    "prompt",
    "response",
    "answer",
    "question",
    "explain",
    "because",
    "system",
    "memory",
    "batch",
    "vector",
    "gradient",
    "learning",
    "rate",
    "optimizer",
    "layer",
    "attention",
    "function",
    "value",
    "result",
    "example",
    "simple",
    "complex",
    "first",
    "second",
    "finally",
    "however",
    "therefore",
    "although",
    "while",
    "during",
    "people",
    "city",
    "river",
    "history",
    "science",
    "energy",
    "water",
    "light",
    "market",
    "price",
    "policy",
    "student",
    "teacher",
    "write",
    "read",
    "build",
    "test",
    "deploy",
    "server",
    "client",
    "request",
    "error",
    "file",
    "line",
    "record",
    "field",
    "column",
    "table",
    "quickly",
    "carefully",
    "usually",
    "often",
    "never",
    "always",
    "important",
    "different",
    "similar",
    "possible",
    "available",
]
OTHER_SCRIPTS = [
    "机器学习模型需要大量的数据来训练。",
    "東京は日本の首都で、人口が非常に多い都市です。",
    "Модель обучается на больших наборах данных.",
    "النموذج يتعلم من البيانات الكبيرة بسرعة.",
    "मशीन लर्निंग मॉडल को बहुत सारे डेटा की आवश्यकता होती है।",
    "데이터가 많을수록 모델의 성능이 좋아집니다.",
    "Die Daten müssen sorgfältig geprüft werden, bevor das Training beginnt.",
    "La réponse doit être précise, concise et bien structurée.",
]
EMOJI = ["😀", "🚀", "✅", "🔥", "📊", "🤖", "🎉", "👍"]
CODE = [
    "```python\ndef {name}(items):\n    total = 0\n    for item in items:\n        total += item.{attr}\n    return total\n```",
    "```sql\nSELECT {attr}, COUNT(*) AS n\nFROM {name}\nGROUP BY {attr}\nORDER BY n DESC;\n```",
    '```bash\nfor f in data/*.jsonl; do\n  wc -l "$f"\ndone | sort -n > {name}.txt\n```',
    "```rust\nfn {name}(xs: &[i64]) -> i64 {{\n    xs.iter().map(|x| x * 2).sum()\n}}\n```",
]
SYSTEM_PROMPTS = [
    "You are a helpful assistant. Answer clearly and cite the steps you take.\n\n",
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n",
]


def sentence(rng: random.Random) -> str:
    n = rng.randint(6, 22)
    words = [rng.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    if rng.random() < 0.08:
        words.insert(rng.randrange(len(words)), rng.choice(EMOJI))
    end = rng.choice([".", ".", ".", "?", "!"])
    return " ".join(words) + end


def paragraph(rng: random.Random, n_words: int) -> str:
    out: list[str] = []
    count = 0
    while count < n_words:
        if rng.random() < 0.06:
            s = rng.choice(OTHER_SCRIPTS)
            count += 8
        else:
            s = sentence(rng)
            count += s.count(" ") + 1
        out.append(s)
    return " ".join(out)


def prompt(rng: random.Random) -> str:
    n_words = min(1000, max(3, int(rng.lognormvariate(5.3, 0.9))))  # median ~200 words
    body = paragraph(rng, n_words)
    if rng.random() < 0.3:
        body = rng.choice(SYSTEM_PROMPTS) + body
    if rng.random() < 0.05:  # a short instruction repeated verbatim across records
        body = rng.choice(["Summarise the text above.", "Translate into French.", "Fix the bug."])
    return body + rng.choice(["\n", "\n\n### Response:\n", " ", ""])


def response(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 5)):
        kind = rng.random()
        if kind < 0.2:
            parts.append(
                rng.choice(CODE).format(name=rng.choice(WORDS) + "_" + rng.choice(WORDS), attr=rng.choice(WORDS))
            )
        elif kind < 0.35:
            parts.append("\n".join(f"{i + 1}. {sentence(rng)}" for i in range(rng.randint(2, 6))))
        elif kind < 0.45:
            parts.append("\n".join(f"- {sentence(rng)}" for _ in range(rng.randint(2, 5))))
        else:
            parts.append(paragraph(rng, rng.randint(30, 160)))
    return "\n\n".join(parts)


def generate(n: int, path: Path, seed: int = 1234) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for i in range(n):
            record = {"id": i, "prompt": prompt(rng), "response": response(rng)}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.rename(path)
    return path


if __name__ == "__main__":
    generate(int(sys.argv[1]), Path(sys.argv[2]))
