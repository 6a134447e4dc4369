#!/usr/bin/env python3
"""Generate the sftmask sample data set: instructions.jsonl and instructions.csv, next to this script.

The hand-written prompt/response pairs are data, in seed_pairs.yaml (YAML block strings keep
them readable); this script adds the template-formatted and multi-question variants derived from
them. Deterministic (a fixed seed): running it again writes byte-identical files, which
tests/config/test_configs_and_sample.py checks against the committed ones.
"""

import csv
import json
import os
import random
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
N_RECORDS = 300
SEED = 20240611


PAIRS = os.path.join(HERE, "seed_pairs.yaml")


def load_pairs(path=PAIRS):
    """The hand-written pairs, in file order: dicts with cat, lang, prompt, response."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


BASE = load_pairs()

# ---------------------------------------------------------------------------
# Derived records: the same Q/A in different prompt formats, and a few
# multi-question prompts that combine two hand-written pairs.
# ---------------------------------------------------------------------------

ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
)
ALPACA_INPUT_PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that "
    "provides further context. Write a response that appropriately completes "
    "the request.\n\n"
)

SYSTEM_PROMPTS = {
    "en": [
        "You are a helpful assistant.",
        "You are a patient tutor. Explain your reasoning clearly.",
        "You are a knowledgeable assistant. Answer accurately and use Markdown where it helps.",
        "You are an expert who gives practical, friendly answers.",
    ],
    "de": ["Du bist ein hilfreicher Assistent."],
    "fr": ["Tu es un assistant serviable et précis."],
    "es": ["Eres un asistente útil y amable."],
    "zh": ["你是一个乐于助人的助手。"],
    "ja": ["あなたは親切なアシスタントです。"],
    "ru": ["Ты — полезный ассистент."],
    "ar": ["أنت مساعد مفيد."],
    "hi": ["आप एक मददगार सहायक हैं।"],
    "ko": ["당신은 친절한 도우미입니다."],
}

CODE_SYSTEM_PROMPT = "You are a senior software engineer. Give correct, idiomatic code."

EN_OPENERS = ["Sure! ", "Of course. ", "Good question. ", "Happy to help. "]


def fmt_alpaca(rec):
    p = rec["prompt"].strip()
    if "\n\n" in p:
        instruction, context = p.split("\n\n", 1)
        return (
            ALPACA_INPUT_PREAMBLE
            + "### Instruction:\n"
            + instruction.strip()
            + "\n\n### Input:\n"
            + context.strip()
            + "\n\n### Response:\n"
        )
    return ALPACA_PREAMBLE + "### Instruction:\n" + p + "\n\n### Response:\n"


def fmt_alpaca_bare(rec):
    return "### Instruction:\n" + rec["prompt"].strip() + "\n\n### Response:\n"


def fmt_qa(rec):
    return "Q: " + rec["prompt"].strip() + "\nA:"


def fmt_user_assistant(rec):
    return "User: " + rec["prompt"].strip() + "\nAssistant: "


def fmt_human(rec):
    return "\n\nHuman: " + rec["prompt"].strip() + "\n\nAssistant:"


def fmt_inst(rec):
    return "[INST] " + rec["prompt"].strip() + " [/INST] "


def fmt_question_answer(rec):
    return "Question: " + rec["prompt"].strip() + "\n\nAnswer:\n"


def fmt_system(rec, rng):
    if rec["cat"] == "code" and rec["lang"] == "en" and rng.random() < 0.6:
        system = CODE_SYSTEM_PROMPT
    else:
        system = rng.choice(SYSTEM_PROMPTS[rec["lang"]])
    sep = rng.choice(["\n\n", "\n"])
    return system + sep + rec["prompt"]


def maybe_opener(rec, rng):
    r = rec["response"]
    if (
        rec["lang"] == "en"
        and rec["cat"] in ("general", "list")
        and len(r) > 200
        and r[0].isupper()
        and rng.random() < 0.35
    ):
        return rng.choice(EN_OPENERS) + r
    return r


def lower_first(s):
    return s[0].lower() + s[1:] if s and not s.startswith(("I ", "I'", "SQL", "Python")) else s


def word_count(s):
    return len(s.split())


def combine(a, b, rng):
    pa, pb = a["prompt"].strip(), b["prompt"].strip()
    style = rng.randrange(3)
    if style == 0:
        prompt = "Two quick questions:\n\n1. " + pa + "\n2. " + pb + "\n"
    elif style == 1:
        prompt = "I have a couple of things I'd like help with.\n\nFirst: " + pa + "\n\nSecond: " + pb
    else:
        prompt = pa + " Also, " + lower_first(pb)
    if style == 2:
        response = a["response"] + "\n\n---\n\nAs for your second question:\n\n" + b["response"]
    else:
        response = "**1. " + pa + "**\n\n" + a["response"] + "\n\n**2. " + pb + "**\n\n" + b["response"]
    return {"cat": "combined", "lang": "en", "prompt": prompt, "response": response}


def build_records():
    rng = random.Random(SEED)
    base = [dict(r) for r in BASE]
    records = []
    seen = set()

    def push(rec):
        if rec["prompt"] in seen:
            return False
        seen.add(rec["prompt"])
        records.append(rec)
        return True

    # 1. Hand-written records, with a few trailing-whitespace variations on
    #    the prompt ending (newline or space), as found in scraped data.
    for rec in base:
        roll = rng.random()
        if rec["prompt"][-1] not in "\n ":
            if roll < 0.10:
                rec["prompt"] += "\n"
            elif roll < 0.15:
                rec["prompt"] += " "
        push(rec)

    # 2. Thirty Alpaca-style "### Instruction:" records.
    candidates = [r for r in BASE if r["cat"] != "combined"]
    alpaca = 0
    while alpaca < 30:
        rec = rng.choice(candidates)
        fmt = fmt_alpaca if rng.random() < 0.6 else fmt_alpaca_bare
        if push({"cat": rec["cat"], "lang": rec["lang"], "prompt": fmt(rec), "response": rec["response"]}):
            alpaca += 1

    # 3. Multi-question prompts combining two medium-length English answers.
    mediums = [
        r
        for r in BASE
        if r["lang"] == "en"
        and r["cat"] in ("general", "list")
        and "\n" not in r["prompt"].strip()
        and 130 <= word_count(r["response"]) <= 330
    ]
    combined = 0
    while combined < 10:
        a, b = rng.sample(mediums, 2)
        total = word_count(a["response"]) + word_count(b["response"])
        if not 300 <= total <= 650:
            continue
        if push(combine(a, b, rng)):
            combined += 1

    # 4. Fill the rest with chat-template and system-prompt variants.
    formats_any = [fmt_qa, fmt_user_assistant, fmt_inst, fmt_question_answer]
    formats_en = [*formats_any, fmt_human]
    pool = [r for r in BASE if r["cat"] != "long"]
    while len(records) < N_RECORDS:
        rec = rng.choice(pool)
        if rng.random() < 0.45:
            prompt = fmt_system(rec, rng)
        else:
            fmts = formats_en if rec["lang"] == "en" else formats_any
            prompt = rng.choice(fmts)(rec)
        push({"cat": rec["cat"], "lang": rec["lang"], "prompt": prompt, "response": maybe_opener(rec, rng)})

    rng.shuffle(records)
    out = []
    for i, rec in enumerate(records, start=1):
        assert isinstance(rec["prompt"], str) and rec["prompt"].strip()
        assert isinstance(rec["response"], str) and rec["response"].strip()
        out.append({"id": f"s{i:04d}", "prompt": rec["prompt"], "response": rec["response"]})
    return out


def write_jsonl(records, path):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_csv(records, path):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "prompt", "response"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def main(out_dir=HERE):
    records = build_records()
    assert len(records) == N_RECORDS, len(records)
    write_jsonl(records, os.path.join(out_dir, "instructions.jsonl"))
    write_csv(records, os.path.join(out_dir, "instructions.csv"))
    print(f"wrote {len(records)} records to {out_dir}")


if __name__ == "__main__":
    main(*sys.argv[1:])
