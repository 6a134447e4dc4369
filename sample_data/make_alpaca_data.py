#!/usr/bin/env python3
"""Generate sample_data/alpaca.json: 40 Alpaca-style records (instruction, input, output) in one
pretty-printed JSON array, the layout of Stanford's alpaca_data.json.

Deterministic and standard-library only. Records come from instructions.jsonl: a prompt of the
form "TASK: TEXT" or "TASK\\n\\nTEXT" becomes instruction TASK with input TEXT; other prompts keep
an empty input. Plain (untemplated) records only, in file order.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
N_RECORDS = 40
TEMPLATED = ("###", "Question:", "Q:", "User:", "[INST]", "You are", "Ты —", "Below is", "<|")


def split_prompt(prompt: str) -> tuple[str, str]:
    """(instruction, input) of a prompt: split at its first blank line, else at its first ': '."""
    text = prompt.strip()
    for separator in ("\n\n", ": "):
        head, found, tail = text.partition(separator)
        if found and tail.strip() and len(head) < 200:
            return head.strip() + (":" if separator == ": " else ""), tail.strip()
    return text, ""


def main() -> None:
    records = []
    with open(os.path.join(HERE, "instructions.jsonl"), encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            if item["prompt"].lstrip().startswith(TEMPLATED):
                continue
            instruction, given = split_prompt(item["prompt"])
            records.append({"instruction": instruction, "input": given, "output": item["response"]})
            if len(records) == N_RECORDS:
                break
    with open(os.path.join(HERE, "alpaca.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(records, f, ensure_ascii=False, indent=4)
        f.write("\n")


if __name__ == "__main__":
    main()
