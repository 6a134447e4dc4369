"""Loading a Hugging Face tokenizer (local folder or Hub) and what sftmask derives from it once.

A local folder that `transformers` would load as a plain `TokenizersBackend` (tokenizer.json plus a
tokenizer_config.json naming no tokenizer class of its own; see `direct_tokenizer`) is loaded
without `transformers`: `tokenizers.Tokenizer.from_file` and the special tokens and chat template
read from the folder's files, as `AutoTokenizer.from_pretrained` reads them. This saves about two
seconds of start-up (importing transformers, and tokenizer.json parsed a second time, in Python).
Every other folder, and every Hub name, goes through `AutoTokenizer.from_pretrained`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from tokenizers import Tokenizer

from sftmask.errors import TokenizerError
from sftmask.ragged import IntArray
from sftmask.tokenization.digests import file_digest
from sftmask.tokenization.normalform import Encoder
from sftmask.tokenization.variants import added_texts, continuation_tokenizer

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


@dataclass(frozen=True)
class LoadedTokenizer:
    """A fast tokenizer plus the pieces sftmask derives from it once, at start-up."""

    hf: Any
    """The `transformers` tokenizer, as `AutoTokenizer.from_pretrained` returned it, or for a folder
    loaded directly a `DirectTokenizer`: the same special-token attributes and chat template, and
    the `transformers` tokenizer (loaded on first use) for anything else."""
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
    longest_added_text: int = 0
    """Length of the longest added token's text (the boundary-merge window covers it)."""
    prefixes_every_word: bool = False
    """The tokenizer prefixes every whitespace-separated word (WhitespaceSplit + Metaspace
    `prepend_scheme="always"`): `continuation` is used for a response's first word only, when it
    continues the prompt's last word; the rest is encoded by `full`."""

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
    """Load a fast tokenizer (as `AutoTokenizer.from_pretrained` loads it) and prepare it for encoding.

    Raises:
        TokenizerError: the name or folder cannot be loaded, or the tokenizer is not fast.
    """
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
    hf: Any
    try:
        if local.exists():
            hf = None if trust_remote_code else direct_tokenizer(local)
            if hf is None:
                from transformers import AutoTokenizer

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
    continuation, edits = continuation_tokenizer(full)
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
        segment_prefix_texts=added_texts(full) if edits.per_segment else (),
        longest_added_text=max(map(len, added_texts(full)), default=0),
        prefixes_every_word=edits.per_word,
    )


_NAMED_SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
"""`transformers`' `SPECIAL_TOKENS_ATTRIBUTES`, in its order (`all_special_ids` follows it)."""
_DIRECT_CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")
"""Classes that take tokenizer.json as it is (the second is the first's old name)."""
_DIRECT_KEYS = frozenset(
    {
        *_NAMED_SPECIAL_TOKENS,
        "backend",
        "tokenizer_class",
        "extra_special_tokens",
        "additional_special_tokens",
        "chat_template",
        "split_special_tokens",
        "add_bos_token",  # dropped by from_pretrained when the folder has tokenizer.json
        "add_eos_token",
        "model_max_length",
        "clean_up_tokenization_spaces",
        "padding_side",
        "truncation_side",
        "model_input_names",
        "add_prefix_space",  # kept as an attribute by TokenizersBackend (its subclasses use it)
        "use_default_system_prompt",  # an attribute; chat templates are not given it
        "is_local",  # set by from_pretrained itself
        "local_files_only",
        "legacy",  # read when converting a SentencePiece model, not from tokenizer.json
        "sp_model_kwargs",
    }
)
"""tokenizer_config.json keys whose meaning `direct_tokenizer` reproduces (or that do not change
encoding); a folder with any other key is loaded by `transformers`."""
_TRANSFORMERS_ONLY_FILES = (
    "config.json",  # the model type can pick another tokenizer class (and patches)
    "special_tokens_map.json",
    "added_tokens.json",
    "additional_chat_templates",
    "tokenizer.model",
)


UNLIMITED = int(1e30)
"""transformers' `model_max_length` when the tokenizer sets none (`VERY_LARGE_INTEGER`)."""


def model_max_length(tok: LoadedTokenizer) -> int | None:
    """The tokenizer's `model_max_length`, or None when it sets none (transformers' huge default)."""
    value = getattr(tok.hf, "model_max_length", None)
    return int(value) if isinstance(value, int) and value < UNLIMITED else None


class DirectTokenizer:
    """What sftmask reads of a `transformers` tokenizer, read from a folder's files directly.

    The attributes below are those `AutoTokenizer.from_pretrained(folder)` would have; any other
    attribute (`decode`, `apply_chat_template`, ...) loads that tokenizer once and delegates to it.
    """

    is_fast = True

    def __init__(self, folder: Path, backend: Tokenizer, config: dict[str, Any], chat_template: str | None) -> None:
        self.folder = folder
        self.backend_tokenizer = backend
        self.class_name = "TokenizersBackend"
        self.name_or_path = str(folder)
        self.chat_template = chat_template
        self.split_special_tokens = bool(config.get("split_special_tokens", False))
        self.model_max_length = int(config.get("model_max_length", UNLIMITED))
        named = {key: config[key] for key in _NAMED_SPECIAL_TOKENS if config.get(key) is not None}
        self.special_tokens_map: dict[str, str] = named
        extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
        self.all_special_tokens: list[str] = list(dict.fromkeys([*named.values(), *extra]))
        self.all_special_ids: list[int] = [self._id(t) for t in self.all_special_tokens]
        self._real: Any = None

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        """Added token text -> id, in id order (as transformers' `TokenizersBackend` gives it)."""
        decoder = self.backend_tokenizer.get_added_tokens_decoder()
        return {decoder[i].content: i for i in sorted(decoder)}

    def _id(self, token: str) -> int:
        found = self.backend_tokenizer.token_to_id(token)
        assert found is not None  # direct_tokenizer checked that every special token is in the vocabulary
        return found

    def _token_id(self, name: str) -> int | None:
        token = self.special_tokens_map.get(name)
        return None if token is None else self._id(token)

    @property
    def bos_token(self) -> str | None:
        return self.special_tokens_map.get("bos_token")

    @property
    def bos_token_id(self) -> int | None:
        return self._token_id("bos_token")

    @property
    def eos_token(self) -> str | None:
        return self.special_tokens_map.get("eos_token")

    @property
    def eos_token_id(self) -> int | None:
        return self._token_id("eos_token")

    @property
    def unk_token(self) -> str | None:
        return self.special_tokens_map.get("unk_token")

    @property
    def unk_token_id(self) -> int | None:
        return self._token_id("unk_token")

    @property
    def pad_token(self) -> str | None:
        return self.special_tokens_map.get("pad_token")

    @property
    def pad_token_id(self) -> int | None:
        return self._token_id("pad_token")

    def transformers_tokenizer(self) -> Any:
        """The tokenizer `AutoTokenizer.from_pretrained(folder)` returns (loaded on first call)."""
        if self._real is None:
            from transformers import AutoTokenizer

            self._real = AutoTokenizer.from_pretrained(str(self.folder))
        return self._real

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # pickling and copying look up dunders before __dict__ is filled
            raise AttributeError(name)
        return getattr(self.transformers_tokenizer(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # special methods bypass __getattr__
        return self.transformers_tokenizer()(*args, **kwargs)

    def __len__(self) -> int:
        return len(self.transformers_tokenizer())

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_real": None}


def direct_tokenizer(folder: Path) -> DirectTokenizer | None:
    """The folder's tokenizer without `transformers`, when that gives what `transformers` gives.

    That holds when `AutoTokenizer.from_pretrained` would build a plain `TokenizersBackend` from
    tokenizer.json and leave its Rust tokenizer as the file defines it: tokenizer_config.json names
    `TokenizersBackend` (or `PreTrainedTokenizerFast`) and only keys in `_DIRECT_KEYS`, with
    special tokens given as strings that are added tokens of tokenizer.json (so transformers adds
    none); tokenizer.json has a post-processor (so transformers writes none) and no padding or
    truncation; no file that transformers would read besides (see `_TRANSFORMERS_ONLY_FILES`).
    None otherwise: the caller loads the folder with `transformers`. tests/tokenization/test_load_direct.py
    checks the result against `AutoTokenizer` on every test tokenizer family.
    """
    tokenizer_file, config_file = folder / "tokenizer.json", folder / "tokenizer_config.json"
    if not tokenizer_file.is_file() or not config_file.is_file():
        return None
    if any((folder / name).exists() for name in _TRANSFORMERS_ONLY_FILES):
        return None
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # transformers reports what is wrong with it
    if not isinstance(config, dict) or config.get("tokenizer_class") not in _DIRECT_CLASSES:
        return None
    if not set(config) <= _DIRECT_KEYS or "auto_map" in config:
        return None
    extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
    named = [config[key] for key in _NAMED_SPECIAL_TOKENS if config.get(key) is not None]
    chat_template = config.get("chat_template")
    if not isinstance(extra, list) or not all(isinstance(t, str) for t in [*named, *extra]):
        return None
    if chat_template is not None and not isinstance(chat_template, str):
        return None  # named templates: a dict in transformers
    template_file = folder / "chat_template.jinja"
    if template_file.is_file():
        chat_template = template_file.read_text(encoding="utf-8")
    try:
        backend = Tokenizer.from_file(str(tokenizer_file))
    except Exception:  # transformers reports what is wrong with it
        return None
    added = {token.content for token in backend.get_added_tokens_decoder().values()}
    if backend.post_processor is None or backend.padding is not None or backend.truncation is not None:
        return None
    if not set(named) | set(extra) <= added:
        return None
    return DirectTokenizer(folder, backend, config, chat_template)


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


def fingerprint_tokenizer(source: str, full: Tokenizer) -> str:
    """SHA-256 over the tokenizer's files (local folder or Hub cache), weights excluded (each
    file's own digest remembered while it does not change: `sftmask.tokenization.digests`)."""
    digest = hashlib.sha256()
    found = False
    folder = Path(source)
    for filename in TOKENIZER_FILES:
        path: Path | None = folder / filename if folder.is_dir() else _cached_hub_file(source, filename)
        if path is not None and path.is_file():
            found = True
            digest.update(filename.encode() + b"\0" + file_digest(path))
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


def describe(tok: LoadedTokenizer) -> dict[str, Any]:
    """What the manifest records about the tokenizer."""
    return {
        "name_or_path": tok.name,
        "class": tok.hf.class_name if isinstance(tok.hf, DirectTokenizer) else type(tok.hf).__name__,
        "fingerprint": tok.fingerprint,
        "eos_token": tok.eos_token,
        "eos_token_id": tok.eos_id,
        "model_max_length": model_max_length(tok),
        "bos_token": tok.hf.bos_token,
        "pad_token": tok.hf.pad_token,
        "vocab_size": tok.full.get_vocab_size(with_added_tokens=True),
        "response_encoding": list(tok.adjustments) or ["as is"],
        "normalizer_skipped_for_text_in": tok.full_encoder.skips_normalizer,
        "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM", "default"),
    }
