"""The lean limit: the same response-only masking with nothing but the essentials.

pyarrow's streaming JSON reader, `tokenizers` batch encoding without offsets (all cores),
labels assembled with numpy over flat buffers, one Parquet row group per batch.
Usage: python bench/lean.py INPUT.jsonl TOKENIZER_DIR OUT.parquet MAX_LENGTH
"""

from __future__ import annotations

import sys

import numpy as np
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
from tokenizers import Tokenizer


def flat(encodings: list) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rows = [e.ids for e in encodings]
    lengths = np.fromiter(map(len, rows), np.int64, len(rows))
    values = np.fromiter((i for r in rows for i in r), np.int32, int(lengths.sum()))
    return values, lengths


def main(src: str, tok_dir: str, out: str, max_length: int) -> None:
    tok = Tokenizer.from_file(f"{tok_dir}/tokenizer.json")
    eos = tok.token_to_id("<|im_end|>")
    reader = pj.open_json(src, read_options=pj.ReadOptions(block_size=8 << 20))
    writer = None
    for batch in reader:
        prompts = batch.column("prompt").to_pylist()
        responses = batch.column("response").to_pylist()
        p_vals, p_len = flat(tok.encode_batch_fast(prompts, add_special_tokens=True))
        r_vals, r_len = flat(tok.encode_batch_fast(responses, add_special_tokens=False))
        n = len(p_len)
        r_len1 = r_len + 1  # + EOS
        total = p_len + r_len1
        keep_r = np.minimum(r_len1, max_length)
        keep_p = np.clip(max_length - keep_r, 0, p_len)
        # gather index: prompt tail then response head + EOS
        p_off = np.concatenate([[0], np.cumsum(p_len)])
        r_off = np.concatenate([[0], np.cumsum(r_len)])
        src_ids = np.concatenate([p_vals, r_vals, np.array([eos], np.int32)])
        eos_pos = len(src_ids) - 1
        starts = np.stack([p_off[1:] - keep_p, len(p_vals) + r_off[:-1]], 1).ravel()
        lens = np.stack([keep_p, np.minimum(keep_r, r_len)], 1).ravel()
        out_off = np.concatenate([[0], np.cumsum(lens)])
        idx = np.repeat(starts - out_off[:-1], lens) + np.arange(out_off[-1])
        # insert EOS index after each row's response when it fits
        has_eos = keep_r == r_len1
        row_end = out_off[2::2]
        idx = np.insert(idx, row_end[has_eos], eos_pos)
        row_len = keep_p + np.minimum(keep_r, r_len) + has_eos
        offsets = np.concatenate([[0], np.cumsum(row_len)]).astype(np.int32)
        ids = src_ids[idx]
        is_prompt = np.arange(len(ids)) - np.repeat(offsets[:-1], row_len) < np.repeat(keep_p, row_len)
        labels = np.where(is_prompt, -100, ids).astype(np.int32)
        table = pa.table(
            {
                "input_ids": pa.ListArray.from_arrays(offsets, ids),
                "attention_mask": pa.ListArray.from_arrays(offsets, np.ones(len(ids), np.int8)),
                "labels": pa.ListArray.from_arrays(offsets, labels),
            }
        )
        del total, n
        if writer is None:
            writer = pq.ParquetWriter(out, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=len(table) + 1)
    if writer is not None:
        writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
