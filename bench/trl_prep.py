"""TRL's own data preparation for assistant-only SFT: what `SFTTrainer` does to a dataset before training.

`SFTTrainer(..., args=SFTConfig(assistant_only_loss=True, max_length=N))` tokenizes each conversation
with `apply_chat_template(..., return_assistant_tokens_mask=True)` (a `{% generation %}` template)
builds `labels` (-100 outside `assistant_masks`) and truncates; the trainer is given a one-layer
random model of the tokenizer's vocabulary, as training is not measured. TRL truncates by keeping the first N tokens, sftmask by dropping the oldest prompt tokens,
so rows longer than N differ. Needs `torch` and `trl`.
Usage: python bench/trl_prep.py INPUT.jsonl TOKENIZER_DIR TEMPLATE.jinja OUT.parquet MAX_LENGTH
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import load_dataset
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
from trl import SFTConfig, SFTTrainer


def main(src: str, tok_dir: str, template_file: str, out: str, max_length: int) -> None:
    tok = AutoTokenizer.from_pretrained(tok_dir)
    tok.chat_template = Path(template_file).read_text(encoding="utf-8")
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
    )
    dataset = load_dataset("json", data_files=src, split="train").select_columns(["messages"])
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(
            output_dir=tmp,
            max_length=max_length,
            assistant_only_loss=True,
            report_to=[],
            dataset_num_proc=None,
            use_cpu=True,
        )
        trainer = SFTTrainer(model=Qwen2ForCausalLM(config), args=args, train_dataset=dataset, processing_class=tok)
        prepared = trainer.train_dataset
    ids, labels = prepared["input_ids"], prepared["labels"]
    table = pa.table({"input_ids": ids, "attention_mask": [[1] * len(r) for r in ids], "labels": labels})
    pq.write_table(table, out, compression="zstd")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
