"""The same response-only masking as a per-record Python loop (one tokenizer call per text).

Usage: python bench/loop.py INPUT.jsonl TOKENIZER_DIR OUT.parquet MAX_LENGTH
"""

from __future__ import annotations

import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from transformers import AutoTokenizer


def main(src: str, tok_dir: str, out: str, max_length: int) -> None:
    tok = AutoTokenizer.from_pretrained(tok_dir)
    eos = tok.eos_token_id
    schema = pa.schema(
        [("input_ids", pa.list_(pa.int32())), ("attention_mask", pa.list_(pa.int8())), ("labels", pa.list_(pa.int32()))]
    )
    writer = pq.ParquetWriter(out, schema, compression="zstd")
    rows: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
    with open(src, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            p = tok(record["prompt"])["input_ids"]
            r = [*tok(record["response"], add_special_tokens=False)["input_ids"], eos][:max_length]
            p = p[len(p) - max(0, min(len(p), max_length - len(r))) :]
            rows["input_ids"].append(p + r)
            rows["attention_mask"].append([1] * (len(p) + len(r)))
            rows["labels"].append([-100] * len(p) + r)
            if len(rows["labels"]) == 1000:
                writer.write_table(pa.table(rows, schema=schema))
                rows = {k: [] for k in rows}
    if rows["labels"]:
        writer.write_table(pa.table(rows, schema=schema))
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
