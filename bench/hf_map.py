"""The same response-only masking as a typical `datasets.map` pipeline.

Usage: python bench/hf_map.py INPUT.jsonl TOKENIZER_DIR OUT_DIR MAX_LENGTH
"""

from __future__ import annotations

import sys
from typing import Any

from datasets import load_dataset
from transformers import AutoTokenizer


def main(src: str, tok_dir: str, out: str, max_length: int) -> None:
    tok = AutoTokenizer.from_pretrained(tok_dir)
    eos = tok.eos_token_id

    def mask(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        prompts = tok(batch["prompt"])["input_ids"]
        responses = tok(batch["response"], add_special_tokens=False)["input_ids"]
        ids, masks, labels = [], [], []
        for p, r in zip(prompts, responses, strict=True):
            r = [*r, eos][:max_length]
            p = p[len(p) - max(0, min(len(p), max_length - len(r))) :]
            ids.append(p + r)
            masks.append([1] * (len(p) + len(r)))
            labels.append([-100] * len(p) + r)
        return {"input_ids": ids, "attention_mask": masks, "labels": labels}

    ds = load_dataset("json", data_files=src, split="train", cache_dir=f"{out}/cache")
    ds = ds.map(mask, batched=True, batch_size=1000, remove_columns=ds.column_names)
    ds.to_parquet(f"{out}/train.parquet")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
