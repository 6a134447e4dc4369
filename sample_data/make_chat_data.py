#!/usr/bin/env python3
"""Generate sample_data/chat.jsonl: 60 multi-turn conversations for chat masking.

Deterministic and standard-library only. A few conversations are written by hand (follow-up
questions, code, non-English, an empty system prompt); the rest chain 1-3 plain prompt/response
pairs from instructions.jsonl into one conversation, some with a system prompt.
"""

import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240612
N_CONVERSATIONS = 60
TEMPLATED = ("###", "Question:", "Q:", "User:", "[INST]", "You are", "Ты —", "I have a couple", "Below is")

SYSTEMS = [
    "You are a helpful assistant.",
    "You are a concise assistant. Answer in as few words as possible.",
    "You are a senior software engineer. Prefer code over prose.",
    "Eres un asistente útil. Responde en español.",
    "あなたは親切なアシスタントです。",
]

HAND_WRITTEN = [
    [
        {"role": "system", "content": "You are a senior software engineer. Prefer code over prose."},
        {"role": "user", "content": "Write a Python function that reverses a string."},
        {"role": "assistant", "content": "```python\ndef reverse(s: str) -> str:\n    return s[::-1]\n```"},
        {"role": "user", "content": "Now make it reverse the words instead of the characters."},
        {
            "role": "assistant",
            "content": '```python\ndef reverse_words(s: str) -> str:\n    return " ".join(reversed(s.split()))\n```\n\n`split()` with no argument also collapses repeated spaces.',
        },
        {"role": "user", "content": "Add a doctest."},
        {
            "role": "assistant",
            "content": '```python\ndef reverse_words(s: str) -> str:\n    """Reverse the order of words.\n\n    >>> reverse_words("hello big world")\n    \'world big hello\'\n    """\n    return " ".join(reversed(s.split()))\n```',
        },
    ],
    [
        {"role": "user", "content": "Wie spät ist es in Tokio, wenn es in Berlin 9 Uhr morgens ist?"},
        {
            "role": "assistant",
            "content": "Im Winter ist es in Tokio dann 17 Uhr, im Sommer (wenn in Berlin Sommerzeit gilt) 16 Uhr.",
        },
        {"role": "user", "content": "Und in New York?"},
        {
            "role": "assistant",
            "content": "In New York ist es dann 3 Uhr morgens – der Unterschied beträgt meistens 6 Stunden.",
        },
    ],
    [
        {"role": "system", "content": "あなたは親切なアシスタントです。"},
        {"role": "user", "content": "おすすめの日本の朝ごはんを教えてください。"},
        {"role": "assistant", "content": "ご飯、味噌汁、焼き魚、納豆、漬物の組み合わせが定番です。"},
        {"role": "user", "content": "簡単なものは？"},
        {"role": "assistant", "content": "卵かけご飯はいかがでしょう。ご飯に生卵と醤油をかけるだけです。"},
    ],
    [
        {"role": "user", "content": "SELECT or JOIN: how do I count orders per customer in SQL?"},
        {
            "role": "assistant",
            "content": "```sql\nSELECT c.id, c.name, COUNT(o.id) AS orders\nFROM customers c\nLEFT JOIN orders o ON o.customer_id = c.id\nGROUP BY c.id, c.name;\n```\n\nThe `LEFT JOIN` keeps customers with no orders (count 0).",
        },
        {"role": "user", "content": "Only customers with more than 5 orders?"},
        {"role": "assistant", "content": "Add `HAVING COUNT(o.id) > 5` after the `GROUP BY`."},
    ],
    [
        {"role": "system", "content": ""},
        {"role": "user", "content": "Say OK."},
        {"role": "assistant", "content": "OK."},
    ],
    [
        {"role": "user", "content": "Traduis « bonne nuit » en anglais et en allemand."},
        {"role": "assistant", "content": "Anglais : « good night ». Allemand : « gute Nacht »."},
        {"role": "user", "content": "Et en italien ?"},
        {"role": "assistant", "content": "« Buona notte »."},
        {"role": "user", "content": "Merci !"},
        {"role": "assistant", "content": "Avec plaisir ! 😊"},
    ],
]


def main(out_dir: str = HERE) -> None:
    rng = random.Random(SEED)
    with open(os.path.join(HERE, "instructions.jsonl"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    plain = [r for r in records if not r["prompt"].startswith(TEMPLATED) and "\n\n" not in r["prompt"]]
    rng.shuffle(plain)
    conversations = list(HAND_WRITTEN)
    i = 0
    while len(conversations) < N_CONVERSATIONS:
        turns = rng.choice([1, 2, 2, 3])
        messages = []
        if rng.random() < 0.35:
            messages.append({"role": "system", "content": rng.choice(SYSTEMS)})
        for pair in plain[i : i + turns]:
            messages.append({"role": "user", "content": pair["prompt"]})
            messages.append({"role": "assistant", "content": pair["response"]})
        i += turns
        conversations.append(messages)
    order = list(range(len(conversations)))
    rng.shuffle(order)
    with open(os.path.join(out_dir, "chat.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for n, k in enumerate(order, start=1):
            f.write(json.dumps({"id": f"c{n:03d}", "messages": conversations[k]}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
