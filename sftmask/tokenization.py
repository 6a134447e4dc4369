"""Loading a Hugging Face tokenizer, and batch encoding of prompt/response columns."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from tokenizers import Tokenizer

from sftmask.errors import TokenizerError
from sftmask.masking import BoolArray, EncodedBatch, first_true, response_mask_from_lengths
from sftmask.normalform import Encoder
from sftmask.ragged import IntArray, Ragged, pairwise_index, row_sums, segment_index

log = logging.getLogger(__name__)

# Files that define a tokenizer's behaviour; model weights are deliberately not hashed.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)

# Characters of context on each side of the prompt/response boundary re-encoded to detect
# tokens that a joint encoding would merge across it.
BOUNDARY_WINDOW = 16


@dataclass(frozen=True)
class LoadedTokenizer:
    """A fast tokenizer plus the pieces sftmask derives from it once, at start-up."""

    hf: Any
    """The `transformers` tokenizer, as `AutoTokenizer.from_pretrained` returned it."""
    name: str
    full: Tokenizer
    """Rust tokenizer that encodes like ``tokenizer(text)``: special tokens added."""
    continuation: Tokenizer
    """Rust tokenizer for text that continues other text: no specials, no dummy prefix."""
    eos_id: int | None
    special_ids: IntArray
    fingerprint: str
    adjustments: tuple[str, ...]
    """What was changed in `continuation` relative to `full`, for the manifest."""
    full_encoder: Encoder
    """Encodes like `full`, skipping a Unicode normalizer for text it would not change."""
    continuation_encoder: Encoder
    """Encodes like `continuation`, the same way."""
    segment_prefix_texts: tuple[str, ...] = ()
    """For tokenizers that prefix every text segment (a `Prepend` normalizer, Metaspace
    `prepend_scheme="always"`): the added-token texts after which a joint encoding starts a new
    prefixed segment. A response following one of them is encoded like the start of a text."""

    @property
    def eos_token(self) -> str | None:
        return self.hf.eos_token  # type: ignore[no-any-return]


def _similar_folder(path: Path) -> str:
    """``; did you mean X?`` naming a folder beside `path` with a close name, when there is one."""
    import difflib

    if not path.parent.is_dir():
        return f" (no folder {path.parent})" if path.parent != Path(".") else ""
    siblings = [child.name for child in path.parent.iterdir() if child.is_dir()]
    close = difflib.get_close_matches(path.name, siblings, n=1)
    return f"; did you mean {path.parent / close[0]}?" if close else f" ({path.parent} has no folder {path.name})"


def load_tokenizer(name_or_path: str, *, trust_remote_code: bool = False) -> LoadedTokenizer:
    """Load a fast tokenizer with `AutoTokenizer.from_pretrained` and prepare it for encoding.

    Raises:
        TokenizerError: the name or folder cannot be loaded, or the tokenizer is not fast.
    """
    from transformers import AutoTokenizer

    local = Path(name_or_path).expanduser()
    # A Hub name is ORG/NAME; a name whose parent folder exists here is a path (`sample_data/tokenize`).
    in_local_folder = local.parent != Path(".") and local.parent.is_dir()
    looks_local = (
        local.exists()
        or name_or_path.startswith((".", "/", "~"))
        or name_or_path.count("/") > 1
        or "\\" in name_or_path
        or in_local_folder
    )
    if looks_local and not local.exists():
        raise TokenizerError(f"tokenizer folder not found: {name_or_path}{_similar_folder(local)}")
    if local.exists() and not local.is_dir():
        raise TokenizerError(f"--tokenizer must be a folder or a Hub name, not a file: {name_or_path}")
    source = str(local) if local.exists() else name_or_path
    try:
        if local.exists():
            hf = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        else:
            hf = _from_hub(name_or_path, trust_remote_code)
    except TokenizerError:
        raise
    except Exception as exc:  # transformers raises OSError, ValueError, HTTP errors, ...
        reason = " ".join(str(exc).split())[:300]
        if local.exists():
            raise TokenizerError(f"cannot load a tokenizer from folder {source}: {reason}") from exc
        raise TokenizerError(
            f"cannot load tokenizer {name_or_path!r}: not a local folder, and the Hugging Face Hub "
            f"did not provide it ({reason}); check the name, or pass a local folder saved with "
            "tokenizer.save_pretrained()"
        ) from exc
    if not getattr(hf, "is_fast", False) or getattr(hf, "backend_tokenizer", None) is None:
        raise TokenizerError(
            f"tokenizer {name_or_path!r} has no fast (Rust) implementation; sftmask needs one "
            "(a folder with tokenizer.json, or a model whose tokenizer converts to it)"
        )
    full = hf.backend_tokenizer
    # A tokenizer.json may ship with truncation or padding switched on; the transformers
    # wrapper switches them off per call, and so must we, since we call the backend directly.
    full.no_truncation()
    full.no_padding()
    if getattr(hf, "split_special_tokens", False):
        full.encode_special_tokens = True
    continuation, edits = _continuation_tokenizer(full)
    full_encoder = Encoder(full)
    special_ids = np.array(sorted(set(hf.all_special_ids)), dtype=np.int64)
    return LoadedTokenizer(
        hf=hf,
        name=name_or_path,
        full=full,
        continuation=continuation,
        eos_id=hf.eos_token_id,
        special_ids=special_ids,
        fingerprint=fingerprint_tokenizer(source, full),
        adjustments=tuple(edits.notes),
        full_encoder=full_encoder,
        continuation_encoder=full_encoder if continuation is full else Encoder(continuation),
        segment_prefix_texts=_added_texts(full) if edits.per_segment else (),
    )


def _from_hub(name: str, trust_remote_code: bool) -> Any:
    """Load from the local Hub cache, or download when the Hub answers.

    Without a network huggingface_hub retries for most of a minute before failing; a quick
    connection probe turns that into an immediate, clear error.
    """
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code, local_files_only=True)
    except Exception:  # not cached (or incomplete): try the Hub below
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        raise TokenizerError(f"tokenizer {name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    from huggingface_hub import constants

    host = urlsplit(constants.ENDPOINT)
    try:
        socket.create_connection((host.hostname or "", host.port or 443), timeout=5).close()
    except OSError as exc:
        raise TokenizerError(
            f"cannot download tokenizer {name!r}: the Hugging Face Hub ({constants.ENDPOINT}) is unreachable "
            f"({exc.strerror or exc}) and the tokenizer is not in the local cache; pass a local folder "
            "saved with tokenizer.save_pretrained(), or run where the Hub is reachable"
        ) from exc
    return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)


@dataclass
class _PrefixEdits:
    """What `_drop_prefix` changed: notes for the manifest, and whether the tokenizer prefixed
    every segment (a `Prepend` normalizer, Metaspace ``prepend_scheme="always"``)."""

    notes: list[str]
    per_segment: bool = False


def _continuation_tokenizer(full: Tokenizer) -> tuple[Tokenizer, _PrefixEdits]:
    """Derive a tokenizer that encodes text as it continues a preceding text.

    SentencePiece-style tokenizers add a dummy "▁" before the first word (a Metaspace
    pre-tokenizer with ``prepend_scheme``, or a ``Prepend`` normalizer); byte-level BPE may add
    a prefix space. Inside a prompt+response text the response gets neither, so neither may be
    added when the response is encoded on its own.
    """
    edits = _PrefixEdits([])
    # Inspect only the two small components first: copying a 250k-token vocabulary takes
    # seconds, and byte-level BPE tokenizers usually need no change at all.
    parts = {name: _component_spec(getattr(full, name)) for name in ("pre_tokenizer", "normalizer")}
    for spec in parts.values():
        _drop_prefix(spec, edits)
    if not edits.notes:
        return full, edits
    spec = json.loads(full.to_str())
    spec.update(parts)
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.no_truncation()
    tok.no_padding()
    tok.encode_special_tokens = full.encode_special_tokens
    return tok, edits


def _component_spec(component: Any) -> Any:
    return None if component is None else json.loads(component.__getstate__())


def _added_texts(full: Tokenizer) -> tuple[str, ...]:
    return tuple(sorted({t.content for t in full.get_added_tokens_decoder().values() if t.content}))


def _drop_prefix(component: Any, edits: _PrefixEdits) -> Any:
    if not isinstance(component, dict):
        return component
    kind = component.get("type")
    if kind == "Sequence":
        key = "pretokenizers" if "pretokenizers" in component else "normalizers"
        parts = [_drop_prefix(part, edits) for part in component.get(key, [])]
        component[key] = [part for part in parts if part is not None]
        return component
    if kind == "Metaspace":
        scheme = component.get("prepend_scheme", "always")
        if scheme != "never":
            edits.per_segment |= scheme == "always"
            note = " (every segment)" if scheme == "always" else ""
            edits.notes.append(f"Metaspace prepend_scheme={scheme}{note} -> never for response text")
            component["prepend_scheme"] = "never"
        if component.get("add_prefix_space"):
            component["add_prefix_space"] = False
        return component
    if kind == "ByteLevel" and component.get("add_prefix_space"):
        edits.notes.append("ByteLevel add_prefix_space=false for response text")
        component["add_prefix_space"] = False
        return component
    if kind == "Prepend":
        edits.per_segment = True
        edits.notes.append(
            f"normalizer Prepend({component.get('prepend')!r}) (every segment) removed for response text"
        )
        return None
    return component


def fingerprint_tokenizer(source: str, full: Tokenizer) -> str:
    """SHA-256 over the tokenizer's files (local folder or Hub cache), weights excluded."""
    digest = hashlib.sha256()
    found = False
    folder = Path(source)
    for filename in TOKENIZER_FILES:
        path: Path | None = folder / filename if folder.is_dir() else _cached_hub_file(source, filename)
        if path is not None and path.is_file():
            found = True
            digest.update(filename.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    if not found:  # e.g. a tokenizer converted in memory: hash what it does instead
        digest.update(full.to_str().encode())
    return "sha256:" + digest.hexdigest()


def _cached_hub_file(repo_id: str, filename: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, filename)
    except Exception:  # a name that is not a valid repo id has no cache entry
        return None
    return Path(found) if isinstance(found, str) else None


def encode_ids(encoder: Encoder, texts: Sequence[str], *, add_special_tokens: bool) -> Ragged:
    """Batch-encode with the Rust tokenizer (all cores, no offsets) into a Ragged."""
    if not texts:
        return Ragged(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64))
    encodings = encoder.encode_batch(texts, add_special_tokens=add_special_tokens)
    return Ragged.from_lists([enc.ids for enc in encodings])


def encode_prompts(tok: LoadedTokenizer, prompts: Sequence[str]) -> Ragged:
    """Encode prompts exactly as ``tokenizer(prompt)`` does, encoding repeated prompts once."""
    index: dict[str, int] = {}
    rows = np.fromiter((index.setdefault(p, len(index)) for p in prompts), np.int64, len(prompts))
    unique = encode_ids(tok.full_encoder, list(index), add_special_tokens=True)
    return unique if len(index) == len(prompts) else unique.take(rows)


def encode_responses(
    tok: LoadedTokenizer, prompts: Sequence[str], responses: Sequence[str], *, add_eos: bool
) -> Ragged:
    """Encode responses as they continue their prompts, then append EOS when asked."""
    return encode_responses_with_word_starts(tok, prompts, responses, add_eos=add_eos, word_starts=False)[0]


def encode_responses_with_word_starts(
    tok: LoadedTokenizer, prompts: Sequence[str], responses: Sequence[str], *, add_eos: bool, word_starts: bool
) -> tuple[Ragged, BoolArray | None]:
    """`encode_responses`, plus (when `word_starts`) a flat mask of tokens that start a word.

    Words are the tokenizer's own pre-tokenization units (``Encoding.word_ids``), except for
    SentencePiece-style tokenizers that do not split text before the model (Metaspace with
    ``split=false``): there a word starts at a token beginning with the ``▁`` marker. EOS
    counts as a word start.
    """
    starts_of = _word_start_rule(tok) if word_starts else None
    encoded, starts = _encode_rows(tok.continuation_encoder, responses, starts_of)
    after = tok.segment_prefix_texts
    fresh_rows = [i for i, p in enumerate(prompts) if not p or (after and p.endswith(after))]
    if fresh_rows:
        # With no prompt the response starts the text: encode it as the start of a text
        # (dummy prefix and all), without special tokens, which the prompt part holds. So does a
        # response after a special token when the tokenizer prefixes every segment.
        fresh, fresh_starts = _encode_rows(tok.full_encoder, [responses[i] for i in fresh_rows], starts_of)
        encoded, starts = _replace_rows(encoded, starts, np.array(fresh_rows, dtype=np.int64), fresh, fresh_starts)
    if after:
        encoded, starts = _prefix_later_segments(tok, encoded, starts, responses, set(fresh_rows), starts_of)
    if not add_eos:
        return encoded, starts
    assert tok.eos_id is not None
    values = np.insert(encoded.values, encoded.offsets[1:], np.int32(tok.eos_id))
    if starts is not None:
        starts = np.insert(starts, encoded.offsets[1:], True)
    return Ragged(values, encoded.offsets + np.arange(len(encoded.offsets), dtype=np.int64)), starts


WordStartRule = Callable[[Ragged, list[Any]], BoolArray]
"""Turns a batch's ids and its `Encoding`s into a flat word-start mask."""


def _encode_rows(
    encoder: Encoder, texts: Sequence[str], starts_of: WordStartRule | None
) -> tuple[Ragged, BoolArray | None]:
    if starts_of is None:
        return encode_ids(encoder, texts, add_special_tokens=False), None
    if not texts:
        return Ragged(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64)), np.zeros(0, dtype=np.bool_)
    encodings = encoder.encode_batch(texts, add_special_tokens=False, offsets=True)
    ids = Ragged.from_lists([enc.ids for enc in encodings])
    return ids, starts_of(ids, encodings)


def _word_start_rule(tok: LoadedTokenizer) -> WordStartRule:
    marker = _unsplit_metaspace(tok.continuation)
    if marker is None:
        return lambda ids, encodings: first_of_word(ids, flat_word_ids(encodings))
    vocab = tok.continuation.get_vocab(with_added_tokens=True)
    starts_word = np.zeros(max(vocab.values(), default=0) + 1, dtype=np.bool_)
    for token, token_id in vocab.items():
        starts_word[token_id] = token.startswith(marker)

    def rule(ids: Ragged, encodings: list[Any]) -> BoolArray:
        mask: BoolArray = starts_word[ids.values]
        mask[ids.offsets[:-1][ids.lengths > 0]] = True
        return mask

    return rule


def _unsplit_metaspace(tokenizer: Tokenizer) -> str | None:
    """The word marker of a Metaspace pre-tokenizer that does not split (whole text = one word)."""
    spec = _component_spec(tokenizer.pre_tokenizer)
    parts = spec.get("pretokenizers", [spec]) if isinstance(spec, dict) else []
    for part in parts:
        if isinstance(part, dict) and part.get("type") == "Metaspace" and part.get("split") is False:
            return str(part.get("replacement", "\u2581"))
    return None


def flat_word_ids(encodings: list[Any]) -> IntArray:
    """The batch's ``Encoding.word_ids`` as one flat array, -1 where None (special tokens)."""
    import pyarrow as pa

    words = pa.array([enc.word_ids for enc in encodings], type=pa.list_(pa.int64()))
    flat: IntArray = words.flatten().fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return flat


def first_of_word(ids: Ragged, word_ids: IntArray) -> BoolArray:
    """True on tokens whose word id differs from the previous token's (the recipe's rule)."""
    previous = np.empty_like(word_ids)
    if len(word_ids):
        previous[1:] = word_ids[:-1]
        previous[ids.offsets[:-1][ids.lengths > 0]] = -1
    first: BoolArray = (word_ids >= 0) & (word_ids != previous)
    return first


def _prefix_later_segments(
    tok: LoadedTokenizer,
    encoded: Ragged,
    starts: BoolArray | None,
    responses: Sequence[str],
    done: set[int],
    starts_of: WordStartRule | None,
) -> tuple[Ragged, BoolArray | None]:
    """For tokenizers that prefix every segment: a response holding a special token has its
    later segments prefixed, as in a joint encoding; only its first segment continues the prompt."""
    pattern = re.compile("|".join(map(re.escape, sorted(tok.segment_prefix_texts, key=len, reverse=True))))
    rows, heads, tails = [], [], []
    for i, response in enumerate(responses):
        match = pattern.search(response) if i not in done else None
        if match is not None:
            rows.append(i)
            heads.append(response[: match.start()])
            tails.append(response[match.start() :])
    if not rows:
        return encoded, starts
    head_ids, head_starts = _encode_rows(tok.continuation_encoder, heads, starts_of)
    tail_ids, tail_starts = _encode_rows(tok.full_encoder, tails, starts_of)
    order, offsets = pairwise_index(head_ids, tail_ids)
    joined = Ragged(np.concatenate([head_ids.values, tail_ids.values])[order], offsets)
    joined_starts = None
    if head_starts is not None and tail_starts is not None:
        joined_starts = np.concatenate([head_starts, tail_starts])[order]
    return _replace_rows(encoded, starts, np.array(rows, dtype=np.int64), joined, joined_starts)


def _replace_rows(
    base: Ragged, base_starts: BoolArray | None, rows: IntArray, new: Ragged, new_starts: BoolArray | None
) -> tuple[Ragged, BoolArray | None]:
    """`replace_rows`, carrying an optional per-token mask along."""
    seg_starts = base.offsets[:-1].copy()
    lengths = base.lengths.copy()
    seg_starts[rows] = len(base.values) + new.offsets[:-1]
    lengths[rows] = new.lengths
    index, offsets = segment_index(seg_starts, lengths)
    replaced = Ragged(np.concatenate([base.values, new.values])[index], offsets)
    if base_starts is None or new_starts is None:
        return replaced, None
    return replaced, np.concatenate([base_starts, new_starts])[index]


def count_leading_specials(rows: Ragged, special_ids: IntArray) -> IntArray:
    """Per row, how many tokens at its start are special tokens (BOS and the like)."""
    return first_true(rows, ~np.isin(rows.values, special_ids))


def count_boundary_merges(tok: LoadedTokenizer, prompts: Sequence[str], responses: Sequence[str]) -> int:
    """Count records whose joint encoding would merge tokens across the prompt/response boundary.

    Only a short window of text on each side is re-encoded: the joint window's tokens are
    compared with the two halves' tokens.
    """
    rows = [i for i, (p, r) in enumerate(zip(prompts, responses, strict=True)) if p and r]
    if not rows:
        return 0
    left = [prompts[i][-BOUNDARY_WINDOW:] for i in rows]
    right = [responses[i][:BOUNDARY_WINDOW] for i in rows]
    joint = [a + b for a, b in zip(left, right, strict=True)]
    encoded = encode_ids(tok.continuation_encoder, joint + left + right, add_special_tokens=False)
    k = len(rows)
    together = encoded.take(np.arange(k))
    apart = concat_rows(encoded.take(np.arange(k, 2 * k)), encoded.take(np.arange(2 * k, 3 * k)))
    same_len = together.lengths == apart.lengths
    keep = np.flatnonzero(same_len)
    a, b = together.take(keep), apart.take(keep)
    differ = row_sums(a.values != b.values, a.offsets) > 0
    return int((~same_len).sum() + differ.sum())


def segment(
    tok: LoadedTokenizer,
    prompts: Sequence[str],
    responses: Sequence[str],
    *,
    add_eos: bool,
    word_starts: bool = False,
) -> EncodedBatch:
    """Tokenize a batch of prompt/response pairs: prompt exactly as at inference, then the response.

    With `word_starts`, also mark the response tokens that start a word (False on the prompt).
    """
    prompt_ids = encode_prompts(tok, prompts)
    response_ids, starts = encode_responses_with_word_starts(
        tok, prompts, responses, add_eos=add_eos, word_starts=word_starts
    )
    ids = concat_rows(prompt_ids, response_ids)
    prompt_len = prompt_ids.lengths
    response_mask = response_mask_from_lengths(ids, prompt_len)
    word_start = None
    if starts is not None:
        word_start = np.zeros(len(ids.values), dtype=np.bool_)
        word_start[response_mask] = starts
    return EncodedBatch(
        ids=ids,
        prompt_len=prompt_len,
        prompt_head=count_leading_specials(prompt_ids, tok.special_ids),
        response_mask=response_mask,
        word_start=word_start,
    )


def concat_rows(first: Ragged, second: Ragged) -> Ragged:
    """Row-wise concatenation of two Ragged batches with the same number of rows."""
    index, offsets = pairwise_index(first, second)
    return Ragged(np.concatenate([first.values, second.values])[index], offsets)


def describe(tok: LoadedTokenizer) -> dict[str, Any]:
    """What the manifest records about the tokenizer."""
    return {
        "name_or_path": tok.name,
        "class": type(tok.hf).__name__,
        "fingerprint": tok.fingerprint,
        "eos_token": tok.eos_token,
        "eos_token_id": tok.eos_id,
        "bos_token": tok.hf.bos_token,
        "pad_token": tok.hf.pad_token,
        "vocab_size": tok.full.get_vocab_size(with_added_tokens=True),
        "response_encoding": list(tok.adjustments) or ["as is"],
        "normalizer_skipped_for_text_in": tok.full_encoder.skips_normalizer,
        "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM", "default"),
    }
