"""Showing which tokens are trained: rows token by token, as plain text, rich text or an HTML page."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from sftmask.config.build import BuildConfig
from sftmask.io.output import BuiltOutput, read_rows
from sftmask.io.readers import FILE_COLUMN, LINE_COLUMN, InputFile, ReadBatch, Reject, resolve_inputs
from sftmask.kinds import EncodingSession
from sftmask.labels.batch import Job, reject_message, run_stages
from sftmask.labels.strategies import IGNORE_INDEX
from sftmask.opening import detect_format, make_reader, open_session, open_tokenizer
from sftmask.tokenization.load import LoadedTokenizer

TRAINED = "[trained]"
MASKED = "[masked]"
SEPARATOR = "·"
"""Between tokens in the plain view: not `|`, which special tokens such as `<|im_end|>` hold."""


@dataclass(frozen=True)
class TokenView:
    """One token of a row: its id, readable text and label."""

    id: int
    text: str
    """The token's text; bytes that are only part of a character are kept as surrogate escapes."""
    label: int
    special: bool
    label_name: str | None = None
    """The tag name of word-labelled data (first-subtoken); None for language-modelling labels."""

    @property
    def trained(self) -> bool:
        return self.label != IGNORE_INDEX


@dataclass(frozen=True)
class RowView:
    """A row ready to show: where it came from, its tokens, and what happened to it."""

    title: str
    tokens: list[TokenView]
    truncated: bool | None = None
    """True/False when known (inspecting inputs); None for rows read from built shards."""
    rejected: str | None = None
    """The reject reason when the record produced no row."""
    message: str | None = None
    """Why it was rejected, as rejects.jsonl says."""

    @property
    def trained_count(self) -> int:
        return sum(t.trained for t in self.tokens)

    def counts(self) -> str:
        """``12 tokens, 5 trained, not truncated`` (truncation only when known)."""
        if self.rejected is not None:
            return f"rejected ({self.rejected})" + (f": {self.message}" if self.message else "")
        parts = [f"{len(self.tokens)} token{'' if len(self.tokens) == 1 else 's'}", f"{self.trained_count} trained"]
        if self.truncated is not None:
            parts.append("truncated" if self.truncated else "not truncated")
        return ", ".join(parts)


def row_view(
    tok: LoadedTokenizer,
    title: str,
    ids: Sequence[int],
    labels: Sequence[int],
    *,
    truncated: bool | None = None,
    id2label: dict[int, str] | None = None,
) -> RowView:
    """Describe one row: token texts, labels, special tokens and (word data) label names."""
    texts = token_texts(tok, ids)
    specials = set(tok.special_ids.tolist())
    tokens = []
    for token_id, text, label in zip(ids, texts, labels, strict=True):
        name = None
        if id2label is not None and label != IGNORE_INDEX:
            name = id2label.get(int(label), f"?{label}")
        tokens.append(TokenView(int(token_id), text, int(label), int(token_id) in specials, name))
    return RowView(title, tokens, truncated)


def token_texts(tok: LoadedTokenizer, ids: Sequence[int]) -> list[str]:
    """Each token's own text, undoing the tokenizer's piece encoding but not merging tokens.

    Byte-level BPE pieces (``Ġthe``) become their bytes (`` the``); SentencePiece ``▁`` becomes a
    space and byte-fallback pieces (``<0x0A>``) their byte; WordPiece pieces stay as they are
    (``##ing``). Special and added tokens are shown by name. Bytes that are only part of a UTF-8
    character are kept as surrogate escapes (shown as ``\\xf0``).
    """
    kinds = _decoder_kinds(tok)
    added = _added_tokens(tok)
    byte_decoder = _byte_decoder() if "ByteLevel" in kinds else None
    out = []
    for token_id in ids:
        piece = tok.full.id_to_token(int(token_id))
        if piece is None:
            out.append(f"<id {int(token_id)}>")
            continue
        if int(token_id) in added:
            out.append(piece)
            continue
        if byte_decoder is not None and all(c in byte_decoder for c in piece):
            raw = bytes(byte_decoder[c] for c in piece)
        elif "ByteFallback" in kinds and len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            raw = bytes([int(piece[3:5], 16)])
        else:
            if kinds & {"Metaspace", "Replace"}:
                piece = piece.replace("\u2581", " ")
            raw = piece.encode("utf-8", "surrogateescape")
        out.append(raw.decode("utf-8", "surrogateescape"))
    return out


def _decoder_kinds(tok: LoadedTokenizer) -> set[str]:
    decoder = tok.full.decoder
    if decoder is None:
        return set()
    kinds: set[str] = set()

    def walk(spec: Any) -> None:
        if isinstance(spec, dict):
            kinds.add(str(spec.get("type")))
            for part in spec.get("decoders") or []:
                walk(part)

    walk(json.loads(decoder.__getstate__()))
    return kinds


def _added_tokens(tok: LoadedTokenizer) -> set[int]:
    return set(tok.full.get_added_tokens_decoder())


@cache
def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's byte -> printable character table used by byte-level BPE."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


# --- rows from inputs or from built shards -------------------------------------------------


def inspect_input(config: BuildConfig, tok: LoadedTokenizer, *, start: int = 0, count: int = 3) -> list[RowView]:
    """Run the build stages (read, encode, label, assemble) on records ``start .. start+count-1``.

    Nothing is written. Records are counted from 0 in input order; a record that the build
    would reject is shown with its reason. The data format is told from the first records as
    `build` tells it (`sftmask.opening.detect_format`).
    """
    files = resolve_inputs(config.inputs, config.input_format, config.split)
    config, data_format = detect_format(config, files)
    tok = open_tokenizer(config, tok)
    session = open_session(config, tok, files)
    batch_size = min(config.batch_size, max(start + count, 16))
    reader = make_reader(config, files, batch_size=batch_size, data_format=data_format)
    views: list[RowView] = []
    seen = 0
    for batch in _close_after(iter(reader)):
        table = batch.table
        # Records in input order: the batch's rows and the records the reader rejected (--on-error skip).
        order = _input_order(table, batch.rejects, files)
        if seen + len(order) <= start:
            seen += len(order)
            continue
        first = max(start - seen, 0)
        window = order[first : first + count - len(views)]
        rows = [item for item in window if isinstance(item, int)]
        shown = iter(_window_views(table.take(rows), config, tok, session, files) if rows else [])
        for k, item in enumerate(window, start=seen + first):
            if isinstance(item, int):
                view = next(shown)
                views.append(
                    RowView(f"record {k} {view.title}", view.tokens, view.truncated, view.rejected, view.message)
                )
            else:
                where = f"{item.file}:{item.line}" if item.unit == "line" else f"{item.file} row {item.line}"
                views.append(RowView(f"record {k} ({where})", [], rejected=item.reason, message=item.message))
        seen += len(order)
        if len(views) >= count:
            break
    return views


def _input_order(table: Any, rejects: list[Reject], files: list[InputFile]) -> list[int | Reject]:
    """A batch's rows (their index) and rejected records, in input order (file, then line)."""
    if not rejects:
        return list(range(table.num_rows))
    index = {f.name: i for i, f in enumerate(files)}
    keyed: list[tuple[tuple[int, int], int | Reject]] = [
        ((f, line), i)
        for i, (f, line) in enumerate(
            zip(table.column(FILE_COLUMN).to_pylist(), table.column(LINE_COLUMN).to_pylist(), strict=True)
        )
    ]
    keyed += [((index.get(r.file, -1), r.line), r) for r in rejects]
    return [item for _, item in sorted(keyed, key=lambda pair: pair[0])]


def _close_after(batches: Iterator[ReadBatch]) -> Iterator[ReadBatch]:
    # Stopping early must still close the input file the reader holds open.
    try:
        yield from batches
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def _window_views(
    window: Any,
    config: BuildConfig,
    tok: LoadedTokenizer,
    session: EncodingSession,
    inputs: list[InputFile],
) -> list[RowView]:
    """Views of a window of records; each title is ``(file:line)``, the caller puts the record number first."""
    labelled = run_stages(window, Job(config, session, tuple(inputs)))
    assembled, encoded = labelled.assembled, labelled.encoded
    files = window.column(FILE_COLUMN).to_pylist()
    lines = window.column(LINE_COLUMN).to_pylist()
    too_long = (
        encoded.ids.lengths > config.max_length
        if config.max_length is not None
        else np.zeros(len(files), dtype=np.bool_)
    )
    views = []
    out_row = 0
    offsets = assembled.input_ids.offsets
    for i in range(window.num_rows):
        title = f"({inputs[files[i]].where(lines[i])})"
        if not assembled.accepted[i]:
            reason = assembled.reject_reasons.get(i, "rejected")
            views.append(RowView(title, [], rejected=reason, message=reject_message(config, encoded, i, reason)))
            continue
        lo, hi = int(offsets[out_row]), int(offsets[out_row + 1])
        out_row += 1
        views.append(
            row_view(
                tok,
                title,
                assembled.input_ids.values[lo:hi].tolist(),
                assembled.labels[lo:hi].tolist(),
                truncated=bool(too_long[i]),
            )
        )
    return views


def inspect_output(
    output: BuiltOutput, tok: LoadedTokenizer, *, start: int = 0, count: int = 3, split: str | None = None
) -> list[RowView]:
    """Rows ``start .. start+count-1`` of a built output (of one `split`, counted from its first
    row), decoded with `tok`.

    Raises:
        NotAnOutputError: the output has no such split.
    """
    id2label = output.id2label
    views = []
    for k, (shard, local, row) in enumerate(read_rows(output, start, count, split)):
        source = f", source {row['source']}" if isinstance(row.get("source"), str) else ""
        title = f"row {start + k}{f' of {split}' if split else ''} ({shard} row {local}{source})"
        views.append(row_view(tok, title, row["input_ids"], row["labels"], id2label=id2label))
    return views


# --- rendering -------------------------------------------------------------------------------


def escape(text: str, *, plain: bool = True) -> str:
    """Make a token's text visible.

    Plain (one line per run): ``\\n``, ``\\t``, ``\\·`` (the separator), ``\\\\``; otherwise (rich, HTML) a newline
    is shown as ``↵`` and kept, so the text keeps its lines. Both show a byte that is only part of a
    character, and other control characters, as ``\\xNN``.
    """
    out = []
    for ch in text:
        code = ord(ch)
        if plain and ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif not plain and ch in "\n\t":
            out.append("↵\n" if ch == "\n" else ch)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is only part of a character
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


_ESCAPES = {"\\": "\\\\", SEPARATOR: "\\" + SEPARATOR, "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def legend(rows: Sequence[RowView]) -> str:
    """The plain view's legend line."""
    text = (
        f"legend: {TRAINED} tokens are trained (label != -100), {MASKED} tokens are not (label -100); "
        f"{SEPARATOR} separates tokens; special tokens appear by name; "
        f"\\n newline, \\{SEPARATOR} a literal {SEPARATOR}, \\xNN a byte of a split character, ␣ a token of only spaces"
    )
    if any(t.label_name is not None for row in rows for t in row.tokens):
        text += "; {TAG} after a token is its label"
    return text


def _plain_token(token: TokenView) -> str:
    # Special tokens by name, as they are (but for the separator, which no common one holds).
    text = token.text.replace(SEPARATOR, _ESCAPES[SEPARATOR]) if token.special else escape(token.text)
    if text and not text.strip(" "):
        text = "␣" * len(text)  # a token of only spaces would be invisible, at a line end above all
    if token.label_name is not None:
        return f"{text}{{{token.label_name}}}"
    if token.trained and token.label != token.id:
        return f"{text}{{label {token.label}}}"  # not a language-modelling label: show it
    return text


def _runs(tokens: Sequence[TokenView]) -> Iterator[tuple[bool, list[TokenView]]]:
    run: list[TokenView] = []
    for token in tokens:
        if run and token.trained != run[0].trained:
            yield run[0].trained, run
            run = []
        run.append(token)
    if run:
        yield run[0].trained, run


def render_plain(rows: Sequence[RowView], *, with_legend: bool = True) -> str:
    """Rows as plain text: a header per row, then one line per run of trained or masked tokens.

    Example::

        record 0 (t.jsonl:1): 6 tokens, 3 trained, not truncated
          [masked]  <s>· Hello·:
          [trained]  Bonjour·!·</s>
    """
    lines = [legend(rows)] if with_legend else []
    width = max(len(TRAINED), len(MASKED))
    for row in rows:
        lines.append(f"{row.title}: {row.counts()}")
        for trained, run in _runs(row.tokens):
            marker = TRAINED if trained else MASKED
            lines.append(f"  {marker:<{width}} " + SEPARATOR.join(_plain_token(t) for t in run))
    return "\n".join(lines) + "\n"


_RICH_STYLES = {
    (True, 0): "bold black on green3",
    (True, 1): "bold black on chartreuse3",
    (False, 0): "grey58 on grey15",
    (False, 1): "grey58 on grey27",
}


def render_rich(rows: Sequence[RowView]) -> Any:
    """Rows as a `rich` renderable: trained tokens highlighted, masked dimmed, boundaries by shade."""
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = []
    key = Text("legend: ")
    key.append(" trained ", style=_RICH_STYLES[(True, 0)])
    key.append(" ")
    key.append(" masked (-100) ", style=_RICH_STYLES[(False, 0)])
    key.append(" ")
    key.append(" special ", style="italic underline grey58 on grey15")
    key.append("  (alternating shades mark token boundaries; ↵ is a newline)")
    parts.append(key)
    for row in rows:
        parts.append(Text(""))
        parts.append(Text(f"{row.title}: {row.counts()}", style="bold"))
        body = Text()
        for i, token in enumerate(row.tokens):
            style = _RICH_STYLES[(token.trained, i % 2)]
            if token.special:
                style += " italic underline"
            body.append(escape(token.text, plain=False), style=style)
            if token.label_name is not None:
                body.append(token.label_name, style="bold magenta")
        if row.tokens:
            parts.append(body)
    return Group(*parts)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
.legend, .counts { color: #555; }
.tokens { font-family: ui-monospace, monospace; white-space: pre-wrap; line-height: 2.4; }
.tok { padding: 2px 0; border-right: 1px solid #fff; }
.tok.trained { background: #7ee08a; color: #000; }
.tok.trained.odd { background: #b4f0bb; }
.tok.masked { background: #dcdcdc; color: #808080; }
.tok.masked.odd { background: #ececec; }
.tok.special { font-style: italic; text-decoration: underline; }
ruby rt { color: #a0208e; font-size: 70%; }
.rejected { color: #b00020; }
"""


def render_html(rows: Sequence[RowView], *, title: str = "sftmask inspect") -> str:
    """Rows as a self-contained HTML page (inline CSS, no scripts, no network)."""
    body = [
        f"<h1>{html.escape(title)}</h1>",
        '<p class="legend">legend: <span class="tok trained">trained</span> '
        '<span class="tok masked">masked (-100)</span> <span class="tok masked special">special</span>; '
        "alternating shades mark token boundaries; ↵ is a newline; hover a token for its id and label.</p>",
    ]
    for row in rows:
        body.append('<section class="row">')
        body.append(f"<h2>{html.escape(row.title)}</h2>")
        css = "counts rejected" if row.rejected else "counts"
        body.append(f'<p class="{css}">{html.escape(row.counts())}</p>')
        spans = []
        for i, token in enumerate(row.tokens):
            classes = ["tok", "trained" if token.trained else "masked"]
            if i % 2:
                classes.append("odd")
            if token.special:
                classes.append("special")
            text = escape(token.text, plain=False)
            hover = f"id {token.id}, label {token.label}"
            span = f'<span class="{" ".join(classes)}" title="{hover}">{html.escape(text)}</span>'
            if token.label_name is not None:
                span = f"<ruby>{span}<rt>{html.escape(token.label_name)}</rt></ruby>"
            spans.append(span)
        body.append(f'<div class="tokens">{"".join(spans)}</div>')
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
