"""The lean chat limit: assistant-only masking of conversations with nothing but the essentials.

Each conversation is rendered once by a chat template with `{% generation %}` markers (Jinja with
the options transformers uses; the markers give the assistant spans), the texts of a batch are
encoded in one `encode_batch` call with offsets (all cores), and the trained tokens (from the
token holding a span's first character to the token holding its last), the prompt (everything
before the first trained token), prompt truncation and the rows are numpy over flat buffers.
Usage: python bench/lean_chat.py INPUT.jsonl TOKENIZER_DIR TEMPLATE.jinja OUT.parquet MAX_LENGTH
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any, ClassVar

import jinja2
import numpy as np
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
from jinja2.ext import Extension
from tokenizers import Tokenizer

SPANS: list[tuple[int, int]] = []
RENDERED: list[str] = []


class Generation(Extension):
    """`{% generation %}...{% endgeneration %}`: records the character span of what it encloses."""

    tags: ClassVar[set[str]] = {"generation"}

    def parse(self, parser: Any) -> Any:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_mark"), [], [], body).set_lineno(lineno)

    def _mark(self, caller: Any) -> str:
        text = caller()
        start = sum(map(len, RENDERED))
        SPANS.append((start, start + len(text)))
        return text  # type: ignore[no-any-return]


def render(template: jinja2.Template, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    RENDERED.clear()
    SPANS.clear()
    for block in template.generate(messages=messages, add_generation_prompt=False):
        RENDERED.append(block)
    return "".join(RENDERED), [s for s in SPANS if s[1] > s[0]]


def main(src: str, tok_dir: str, template_file: str, out: str, max_length: int) -> None:
    tok = Tokenizer.from_file(f"{tok_dir}/tokenizer.json")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols])
    template = env.from_string(Path(template_file).read_text(encoding="utf-8"))
    reader = pj.open_json(src, read_options=pj.ReadOptions(block_size=8 << 20))
    writer = None
    for batch in reader:
        rendered = [render(template, m) for m in batch.column("messages").to_pylist()]
        encodings = tok.encode_batch([text for text, _ in rendered], add_special_tokens=False)
        lengths = np.fromiter(map(len, encodings), np.int64, len(encodings))
        n_tokens = int(lengths.sum())
        ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in encodings), np.int32, n_tokens)
        offsets = np.fromiter(
            itertools.chain.from_iterable(itertools.chain.from_iterable(e.offsets for e in encodings)),
            np.int64,
            2 * n_tokens,
        ).reshape(-1, 2)
        row_start = np.concatenate([[0], np.cumsum(lengths)])
        row = np.repeat(np.arange(len(lengths)), lengths)
        # Character positions made increasing across rows: row r's characters move up by r * stride.
        stride = int(offsets.max(initial=0)) + 1
        starts, ends = offsets[:, 0] + row * stride, offsets[:, 1] + row * stride
        span_row = np.repeat(np.arange(len(rendered)), [len(s) for _, s in rendered])
        spans = np.array([s for _, row_spans in rendered for s in row_spans], np.int64).reshape(-1, 2)
        first = np.searchsorted(ends, spans[:, 0] + span_row * stride, side="right")
        last = np.searchsorted(starts, spans[:, 1] - 1 + span_row * stride, side="right") - 1
        marks = np.zeros(n_tokens + 1, np.int64)
        np.add.at(marks, first, 1)
        np.add.at(marks, last + 1, -1)
        trained = np.cumsum(marks[:-1]) > 0
        # The prompt: everything before a row's first trained token.
        first_trained = np.full(len(lengths), n_tokens, np.int64)
        np.minimum.at(first_trained, row[trained], np.flatnonzero(trained))
        p_len = np.minimum(first_trained, row_start[1:]) - row_start[:-1]
        r_len = lengths - p_len
        keep_r = np.minimum(r_len, max_length)
        keep_p = np.minimum(p_len, max_length - keep_r)
        seg_starts = np.stack([row_start[:-1] + p_len - keep_p, row_start[:-1] + p_len], 1).ravel()
        seg_lens = np.stack([keep_p, keep_r], 1).ravel()
        out_off = np.concatenate([[0], np.cumsum(seg_lens)])
        idx = np.repeat(seg_starts - out_off[:-1], seg_lens) + np.arange(out_off[-1])
        row_len = keep_p + keep_r
        row_off = np.concatenate([[0], np.cumsum(row_len)]).astype(np.int32)
        out_ids = ids[idx]
        labels = np.where(trained[idx], out_ids, -100).astype(np.int32)
        table = pa.table(
            {
                "input_ids": pa.ListArray.from_arrays(row_off, out_ids),
                "attention_mask": pa.ListArray.from_arrays(row_off, np.ones(len(out_ids), np.int8)),
                "labels": pa.ListArray.from_arrays(row_off, labels),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(out, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=len(table) + 1)
    if writer is not None:
        writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
