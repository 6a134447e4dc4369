"""Assistant-only masking of conversations as a typical `datasets.map` + `apply_chat_template` pipeline.

The template has `{% generation %}` markers, so transformers' `return_assistant_tokens_mask` gives
the trained tokens; prompt truncation as sftmask's (the oldest tokens go first).
Usage: python bench/hf_map_chat.py INPUT.jsonl TOKENIZER_DIR TEMPLATE.jinja OUT_DIR MAX_LENGTH
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from datasets import load_dataset
from transformers import AutoTokenizer


def main(src: str, tok_dir: str, template_file: str, out: str, max_length: int) -> None:
    tok = AutoTokenizer.from_pretrained(tok_dir)
    tok.chat_template = Path(template_file).read_text(encoding="utf-8")

    def mask(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        encoded = tok.apply_chat_template(
            batch["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids_out, masks_out, labels_out = [], [], []
        for ids, trained in zip(encoded["input_ids"], encoded["assistant_masks"], strict=True):
            p = trained.index(1) if 1 in trained else len(ids)
            keep_r = min(len(ids) - p, max_length)
            keep_p = min(p, max_length - keep_r)
            kept = list(range(p - keep_p, p + keep_r))
            ids_out.append([ids[i] for i in kept])
            masks_out.append([1] * len(kept))
            labels_out.append([ids[i] if trained[i] else -100 for i in kept])
        return {"input_ids": ids_out, "attention_mask": masks_out, "labels": labels_out}

    ds = load_dataset("json", data_files=src, split="train", cache_dir=f"{out}/cache")
    ds = ds.map(mask, batched=True, batch_size=1000, remove_columns=ds.column_names)
    ds.to_parquet(f"{out}/train.parquet")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
