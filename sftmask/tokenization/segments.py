"""Texts encoded piece by piece between added tokens, each distinct piece once: the same tokens.

A Hugging Face tokenizer splits a text at its added tokens (``<|im_start|>``, ``[INST]``) before
anything else (`AddedVocabulary::extract_and_normalize`): the added tokens are matched in the raw
text, then each piece between them is normalized, pre-tokenized and run through the model on its
own. So a text's tokens are its pieces' tokens and the added tokens, in order, and a piece that
recurs (a system prompt and tool schemas repeated in every conversation of a set, a template's
``\\n`` between turns) need be encoded only once. `SegmentEncoder` does that, with a bounded cache
of pieces (per process: each worker keeps its own).

What may make a piece encode differently on its own than in its text, and how each is handled:

- where the piece stands: a Metaspace pre-tokenizer with ``prepend_scheme="first"`` prefixes a
  piece only at the text's start, and a ByteLevel post-processor trims the first token's offsets
  differently. A piece is encoded as the text's start only when it is one (the cache is keyed by
  that too); any other piece is encoded after an added token (`SegmentEncoder.lead`), which is
  what it follows in its text, and that token is taken off again;
- added tokens matched by their neighbours (``single_word``, ``lstrip``, ``rstrip``): a piece's
  edges see other neighbours on their own, which can only let more added tokens match (the text
  had none inside the piece). A piece whose tokens hold an added token's id is therefore not
  trusted: its text is encoded whole;
- added tokens matched in normalized text (``normalized=True`` with a normalizer): they cut a
  normalized piece, whose parts would be normalized apart on their own (a `Prepend` normalizer
  would prefix each). A text where one matched is encoded whole.

The added tokens of a text are found with regular expressions (`AddedTokenFinder`: leftmost-
longest, the raw ones first, as the tokenizer matches them) when none has ``lstrip``, ``rstrip``
or ``single_word`` or is matched in normalized text, and special tokens are not encoded as text;
else by a tokenizer of the added tokens alone (`SplitterFinder`: same flags, same normalizer).
Each call encodes its first `PROBE_TEXTS` texts piece by piece, the rest only when that paid.
The cache is declined (every text encoded whole) for tokenizers with BPE dropout (not
deterministic) and those with no added token that can lead a piece (one that strips nothing,
matches anywhere and in raw text). tests/tokenization/test_segments.py checks ids and token ends
against encoding whole on every tested tokenizer family.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from tokenizers import AddedToken, Tokenizer
from tokenizers.models import WordLevel

from sftmask.ragged import BoolArray, IntArray, Ragged, TokenArray, offsets_of, segment_index
from sftmask.tokenization.normalform import Encoder
from sftmask.tokenization.token_ends import encode_with_ends as encode_whole_with_ends
from sftmask.tokenization.variants import copy_added

MAX_CACHED_TOKENS = 1 << 22
"""Tokens a process keeps cached (about 50 MB with their ends and texts); the least recently used
pieces go first."""

PROBE_TEXTS = 64
"""Texts of each call encoded piece by piece whatever they save (what the rest is encoded like is
decided by what these saved)."""
MIN_SAVING = 0.2
"""The share of the probe's tokens that must come from the cache for the rest to be encoded piece
by piece (splitting and gathering cost about a tenth of encoding)."""

_PIECE = "\ue000sftmask piece\ue000"
"""The added-token tokenizer's one (unknown) word: every piece between added tokens."""


PIECE, WHOLE = -1, -2
"""In a text's parts: a piece between added tokens; an added token matched in normalized text
(the text is encoded whole)."""


class SegmentEncoder:
    """Encodes texts like `token_ends.encode_with_ends(encoder, texts)`, each distinct piece between
    added tokens once (see the module's docstring). Build with `segment_encoder`."""

    def __init__(self, encoder: Encoder, finder: AddedTokenFinder | SplitterFinder, lead: tuple[str, int]) -> None:
        self._encoder = weakref.ref(encoder)  # the encoder holds this (`segment_encoder`), not the reverse
        self.finder = finder
        """Splits a text into added tokens and the pieces between them."""
        self.lead = lead
        """The added token (text, id) put before a piece that does not start its text."""
        tokenizer = encoder.tokenizer
        ids = list(tokenizer.get_added_tokens_decoder())
        self.is_added: BoolArray = np.zeros(max([*ids, tokenizer.get_vocab_size(with_added_tokens=True)]) + 1, np.bool_)
        self.is_added[ids] = True
        self.cache: dict[tuple[str, bool], tuple[TokenArray, IntArray]] = {}
        self.cached_tokens = 0
        self.fresh_tokens = 0
        """Tokens the last `_segmented` call encoded (pieces not cached, texts encoded whole) or
        took from added tokens: what encoding whole would have cost too."""

    @property
    def encoder(self) -> Encoder:
        encoder = self._encoder()
        assert encoder is not None  # alive: it is what `segment_encoder` was called with
        return encoder

    def encode_with_ends(self, texts: Sequence[str]) -> tuple[Ragged, IntArray]:
        """The texts' tokens (no special tokens added) and each token's end in its text (characters).

        The first `PROBE_TEXTS` texts are encoded piece by piece; the rest too when that saved at
        least `MIN_SAVING` of their tokens' encoding, else whole (data that does not repeat itself
        would pay for the splitting and gain nothing). Either way the tokens are the same.
        """
        texts = list(texts)
        probe = self._segmented(texts[:PROBE_TEXTS])
        if len(texts) <= PROBE_TEXTS:
            return probe
        saved = 1 - self.fresh_tokens / max(len(probe[0].values), 1)  # the share taken from the cache
        rest = (
            self._segmented(texts[PROBE_TEXTS:])
            if saved >= MIN_SAVING
            else encode_whole_with_ends(self.encoder, texts[PROBE_TEXTS:])
        )
        ids = Ragged(
            np.concatenate([probe[0].values, rest[0].values]),
            np.concatenate([probe[0].offsets, rest[0].offsets[1:] + probe[0].offsets[-1]]),
        )
        return ids, np.concatenate([probe[1], rest[1]])

    def _segmented(self, texts: list[str]) -> tuple[Ragged, IntArray]:
        """`encode_with_ends`, every text piece by piece."""
        self.fresh_tokens = 0
        if not texts:
            return encode_whole_with_ends(self.encoder, texts)
        # The batch's distinct parts (pieces by their key, added tokens by (id, length)), each a
        # slot holding its tokens (a piece later pieces push out of the cache stays here), and per
        # row the slots of its parts and where each starts (None: the row is encoded whole).
        slots: dict[Any, int] = {}
        held: list[tuple[TokenArray, IntArray] | None] = []
        rows: list[tuple[list[int], list[int]] | None] = []
        if isinstance(self.finder, AddedTokenFinder) and self.finder.single is not None:
            self._split_by_pattern(texts, self.finder.single, slots, held, rows)
            texts_left: list[str] = []
        else:
            texts_left = texts
        for text, split in zip(texts_left, self.finder.split(texts_left), strict=True):
            row_slots: list[int] = []
            starts: list[int] = []
            for kind, start, end in split:
                if kind == WHOLE:
                    break
                key: Any = (text[start:end], start == 0) if kind == PIECE else (kind, end - start)
                slot = slots.get(key)
                if slot is None:
                    slot = self._new_slot(key, slots, held)
                row_slots.append(slot)
                starts.append(start)
                self.fresh_tokens += kind >= 0  # an added token
            else:
                rows.append((row_slots, starts))
                continue
            rows.append(None)
        missing = [(key, slot) for key, slot in slots.items() if held[slot] is None]
        self._encode_pieces(missing, held)
        return self._assemble(texts, rows, held)

    def _split_by_pattern(
        self,
        texts: list[str],
        single: tuple[re.Pattern[str], dict[str, int]],
        slots: dict[Any, int],
        held: list[tuple[TokenArray, IntArray] | None],
        rows: list[tuple[list[int], list[int]] | None],
    ) -> None:
        """The loop of `_segmented` for an `AddedTokenFinder` of one phase: ``pattern.split``
        gives the pieces and the added tokens between them (alternately, pieces possibly empty)
        in one C call, the same matches as its ``finditer``; the same slots, rows and count."""
        pattern, ids = single
        added = 0
        for text in texts:
            row_slots: list[int] = []
            starts: list[int] = []
            at = 0
            token = False  # parts alternate: piece, added token, piece, ...
            for part in pattern.split(text):
                if token:
                    key: Any = (ids[part], len(part))
                elif part:
                    key = (part, at == 0)
                else:
                    token = True
                    continue
                slot = slots.get(key)
                if slot is None:
                    slot = self._new_slot(key, slots, held)
                row_slots.append(slot)
                starts.append(at)
                added += token
                at += len(part)
                token = not token
            rows.append((row_slots, starts))
        self.fresh_tokens += added

    def _new_slot(self, key: Any, slots: dict[Any, int], held: list[tuple[TokenArray, IntArray] | None]) -> int:
        """A new slot for a part of `_segmented`'s batch: a piece's (its text, whether it starts
        the text) holds its cached tokens, or None until `_encode_pieces` fills it; an added
        token's (its id, its length) holds that token."""
        slot = slots[key] = len(held)
        if isinstance(key[0], str):
            hit = self.cache.pop(key, None)
            if hit is not None:
                self.cache[key] = hit  # put back last: the most recently used go last
            held.append(hit)
        else:
            held.append((np.array([key[0]], np.int32), np.array([key[1]], np.int64)))
        return slot

    def _encode_pieces(self, missing: list[tuple[Any, int]], held: list[tuple[TokenArray, IntArray] | None]) -> None:
        """Encode the pieces not cached into their slots and the cache (a piece not to be trusted
        stays None: its rows are encoded whole)."""
        if not missing:
            return
        lead, lead_id = self.lead
        texts = [piece if at_start else lead + piece for (piece, at_start), _ in missing]
        ids, ends = encode_whole_with_ends(self.encoder, texts)
        self.fresh_tokens += len(ids.values)
        # Checked for all pieces at once: a piece encoded after the lead must begin with the lead
        # token, ending where the lead does (it comes off, and the piece's ends move back by its
        # length); no piece may hold an added token (one matched on its own that did not in its text).
        first, stop = ids.offsets[:-1], ids.offsets[1:]
        after_lead = np.fromiter((not at_start for (_, at_start), _ in missing), np.bool_, len(missing))
        led = np.zeros(len(missing), np.bool_)
        begun = stop > first
        led[begun] = (ids.values[first[begun]] == lead_id) & (ends[first[begun]] == len(lead))
        begin = first + after_lead
        added = np.zeros(len(ids.values) + 1, np.int64)
        np.cumsum(self.is_added[ids.values], out=added[1:])
        trusted = (led | ~after_lead) & (added[stop] == added[np.minimum(begin, stop)])
        shift = np.where(after_lead, len(lead), 0)
        for k in np.flatnonzero(trusted).tolist():
            a, b = int(begin[k]), int(stop[k])
            key, slot = missing[k]
            piece = held[slot] = (ids.values[a:b].copy(), ends[a:b] - shift[k])
            self._remember(key, *piece)

    def _remember(self, key: tuple[str, bool], ids: TokenArray, ends: IntArray) -> None:
        self.cache[key] = (ids, ends)
        self.cached_tokens += len(ids) + 1
        while self.cached_tokens > MAX_CACHED_TOKENS and self.cache:
            oldest = next(iter(self.cache))
            self.cached_tokens -= len(self.cache.pop(oldest)[0]) + 1

    def _assemble(
        self,
        texts: list[str],
        rows: list[tuple[list[int], list[int]] | None],
        held: list[tuple[TokenArray, IntArray] | None],
    ) -> tuple[Ragged, IntArray]:
        """Each row's tokens gathered from its parts' slots; rows with a part not to be trusted
        (or an added token matched in normalized text) encoded whole, as a slot of their own."""
        whole = [i for i, row in enumerate(rows) if row is None or any(held[slot] is None for slot in row[0])]
        if whole:
            whole_ids, whole_ends = encode_whole_with_ends(self.encoder, [texts[i] for i in whole])
            self.fresh_tokens += len(whole_ids.values)
            for k, i in enumerate(whole):
                first, stop = int(whole_ids.offsets[k]), int(whole_ids.offsets[k + 1])
                rows[i] = ([len(held)], [0])
                held.append((whole_ids.values[first:stop], whole_ends[first:stop]))
        pool_lengths = np.fromiter((0 if h is None else len(h[0]) for h in held), np.int64, len(held))
        pool_offsets = offsets_of(pool_lengths)
        kept = [h for h in held if h is not None]
        pool_ids = np.concatenate([h[0] for h in kept]) if kept else np.zeros(0, np.int32)
        pool_ends = np.concatenate([h[1] for h in kept]) if kept else np.zeros(0, np.int64)
        counts = np.fromiter((len(row[0]) for row in rows if row is not None), np.int64, len(rows))
        part_slots = np.fromiter((s for row in rows if row is not None for s in row[0]), np.int64, int(counts.sum()))
        shifts = np.fromiter((s for row in rows if row is not None for s in row[1]), np.int64, int(counts.sum()))
        lengths = pool_lengths[part_slots]
        index, _ = segment_index(pool_offsets[part_slots], lengths)
        row_of_part = np.repeat(np.arange(len(rows)), counts)
        row_lengths = np.bincount(row_of_part, weights=lengths, minlength=len(rows)).astype(np.int64)
        values = pool_ids[index].astype(np.int32, copy=False)
        ends = pool_ends[index] + np.repeat(shifts, lengths)
        return Ragged(values, offsets_of(row_lengths)), ends


def segment_encoder(encoder: Encoder) -> SegmentEncoder | None:
    """`encoder`'s `SegmentEncoder`, made once per encoder object (per process); None where the
    cache is declined (see the module's docstring): texts are then encoded whole."""
    if encoder not in _ENCODERS:
        _ENCODERS[encoder] = _make(encoder)
    return _ENCODERS[encoder]


def encode_with_ends(encoder: Encoder, texts: Sequence[str]) -> tuple[Ragged, IntArray]:
    """`sftmask.tokenization.token_ends.encode_with_ends`, with each distinct piece between
    added tokens encoded once where the tokenizer allows (`SegmentEncoder`).

    Args:
        encoder: the tokenizer's `Encoder`.
        texts: the texts.

    Returns:
        The token rows (no special tokens added), and the flat end offsets (one per token, in
        characters of its text).
    """
    segmented = segment_encoder(encoder)
    if segmented is None:
        return encode_whole_with_ends(encoder, texts)
    return segmented.encode_with_ends(texts)


_ENCODERS: weakref.WeakKeyDictionary[Encoder, SegmentEncoder | None] = weakref.WeakKeyDictionary()
"""Each live encoder's `SegmentEncoder` (its cache goes with the encoder)."""

Split = list[tuple[int, int, int]]
"""A text's parts in order: (the added token's id, or `PIECE` or `WHOLE`; start; end), in characters."""


class AddedTokenFinder:
    """Finds added tokens with regular expressions, for tokenizers whose added tokens match as
    plain text: no ``lstrip``, ``rstrip`` or ``single_word``, none matched in normalized text
    (``normalized`` with a normalizer), special tokens not encoded as text. Like
    `AddedVocabulary::find_matches`: leftmost-longest, not overlapping, first the tokens matched in
    the raw text, then, in the pieces between them, the ``normalized`` ones."""

    def __init__(self, raw: dict[str, int], normalized: dict[str, int]) -> None:
        self.phases = [(self._pattern(tokens), tokens) for tokens in (raw, normalized) if tokens]
        self.single: tuple[re.Pattern[str], dict[str, int]] | None = None
        """With one phase: its pattern as one group (``split`` keeps the matches) and its tokens."""
        if len(self.phases) == 1:
            pattern, tokens = self.phases[0]
            self.single = (re.compile(f"({pattern.pattern})"), tokens)

    @staticmethod
    def _pattern(tokens: dict[str, int]) -> re.Pattern[str]:
        # Python tries the alternatives in order: longest first makes the leftmost match the longest.
        return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))

    def split(self, texts: list[str]) -> list[Split]:
        return [self._split(text, 0, len(text), 0) for text in texts]

    def _split(self, text: str, start: int, stop: int, phase: int) -> Split:
        if phase == len(self.phases):
            return [(PIECE, start, stop)]
        pattern, ids = self.phases[phase]
        last = phase + 1 == len(self.phases)  # the gaps are pieces (no phase left to split them)
        parts: Split = []
        for match in pattern.finditer(text, start, stop):
            begin, end = match.span()
            if begin > start:
                if last:
                    parts.append((PIECE, start, begin))
                else:
                    parts += self._split(text, start, begin, phase + 1)
            parts.append((ids[match.group()], begin, end))
            start = end
        if start < stop:
            parts += self._split(text, start, stop, phase + 1)
        return parts


class SplitterFinder:
    """Finds added tokens with a tokenizer of the added tokens alone (their flags, and the
    normalizer when some are matched in normalized text): every piece between them comes out as
    its one unknown word (id 0). Slower than `AddedTokenFinder` (offsets), for the other tokenizers."""

    def __init__(self, splitter: Tokenizer, kinds: IntArray) -> None:
        self.splitter = splitter
        self.kinds = kinds
        """Per splitter id: `PIECE`, the tokenizer's id, or `WHOLE` (matched in normalized text)."""

    def split(self, texts: list[str]) -> list[Split]:
        kinds = self.kinds
        splits = []
        for text, encoding in zip(texts, self.splitter.encode_batch(texts, add_special_tokens=False), strict=True):
            # The pieces are what lies between the added tokens: an unknown word's offsets may miss
            # characters its normalizer joined (NFC: "e" + U+0301 is one character, mapped to "e").
            parts: Split = []
            at = 0
            for token_id, (start, end) in zip(encoding.ids, encoding.offsets, strict=True):
                if token_id:
                    if start > at:
                        parts.append((PIECE, at, start))
                    parts.append((int(kinds[token_id]), start, end))
                    at = end
            if at < len(text):
                parts.append((PIECE, at, len(text)))
            splits.append(parts)
        return splits


def _make(encoder: Encoder) -> SegmentEncoder | None:
    tokenizer = encoder.tokenizer
    if getattr(tokenizer.model, "dropout", None):
        return None  # BPE dropout: no two encodings need agree
    added = tokenizer.get_added_tokens_decoder()
    normalizer = tokenizer.normalizer
    special_as_text = tokenizer.encode_special_tokens
    leads = [
        (token.content, token_id)
        for token_id, token in sorted(added.items())
        if token.content
        and not (token.lstrip or token.rstrip or token.single_word)
        and not (token.normalized and normalizer is not None)
        and not (token.special and special_as_text)
    ]
    if not leads:
        return None
    lead = min(leads, key=lambda t: len(t[0]))  # the shortest keeps the pieces' encodings short
    plain = not special_as_text and all(
        not (t.lstrip or t.rstrip or t.single_word or (t.normalized and normalizer is not None)) for t in added.values()
    )
    finder: AddedTokenFinder | SplitterFinder | None
    if plain:
        raw = {t.content: i for i, t in added.items() if t.content and not t.normalized}
        normalized = {t.content: i for i, t in added.items() if t.content and t.normalized}
        finder = AddedTokenFinder(raw, normalized)
    else:
        finder = _splitter_finder(added, normalizer, special_as_text)
    return None if finder is None else SegmentEncoder(encoder, finder, lead)


def _splitter_finder(added: dict[int, AddedToken], normalizer: Any, special_as_text: bool) -> SplitterFinder | None:
    splitter = Tokenizer(WordLevel({_PIECE: 0}, unk_token=_PIECE))
    matched_normalized = normalizer is not None and any(t.normalized for t in added.values())
    if matched_normalized:
        splitter.normalizer = normalizer
    kinds = [PIECE]
    for token_id in sorted(added):
        token = added[token_id]
        (splitter.add_special_tokens if token.special else splitter.add_tokens)([copy_added(token)])
        kinds.append(WHOLE if token.normalized and normalizer is not None else token_id)
    splitter.encode_special_tokens = special_as_text
    mine = splitter.get_added_tokens_decoder()
    contents = [added[i].content for i in sorted(added)]
    if sorted(mine) != list(range(1, len(added) + 1)) or [mine[i].content for i in sorted(mine)] != contents:
        return None  # the added tokens did not all come out as themselves
    return SplitterFinder(splitter, np.array(kinds, dtype=np.int64))
