"""Shared fixtures: offline real tokenizers, built once and cached across test sessions."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

from tests import tokenizers_offline

REPO = Path(__file__).resolve().parent.parent


def _cached(request: pytest.FixtureRequest, name: str, build: Callable[[Path], Any]) -> Path:
    # Keyed by library versions and by this builder code, so a changed fixture is rebuilt.
    source = hashlib.sha256(Path(tokenizers_offline.__file__).read_bytes())
    source.update(tokenizers_offline.WORDPIECE_VOCAB.read_bytes())
    versions = "-".join(importlib.metadata.version(p) for p in ("transformers", "tokenizers"))
    versions += "-" + source.hexdigest()[:12]
    root = Path(request.config.cache.mkdir("tokenizers")) / versions
    folder = root / name
    if not (folder / "tokenizer_config.json").exists():
        tmp = root / f"{name}.tmp-{os.getpid()}"
        build(tmp)
        tmp.rename(folder)
    return folder


@pytest.fixture(scope="session")
def qwen_path(request: pytest.FixtureRequest) -> Path:
    return _cached(request, "qwen3_6", tokenizers_offline.build_qwen)


@pytest.fixture(scope="session")
def qwen_pad_eos_path(request: pytest.FixtureRequest) -> Path:
    return _cached(request, "qwen3_6-pad-eos", lambda p: tokenizers_offline.build_qwen(p, pad_is_eos=True))


@pytest.fixture(scope="session")
def mistral_path(request: pytest.FixtureRequest) -> Path:
    return _cached(request, "mistral_v3", tokenizers_offline.build_mistral)


@pytest.fixture(scope="session")
def llama_legacy_path(request: pytest.FixtureRequest, mistral_path: Path) -> Path:
    return _cached(request, "llama_legacy", lambda p: tokenizers_offline.build_llama_legacy(p, mistral_path))


@pytest.fixture(scope="session")
def llama_legacy(llama_legacy_path: Path) -> Any:
    from sftmask.tokenizer import load_tokenizer

    return load_tokenizer(str(llama_legacy_path))


@pytest.fixture(scope="session")
def wordpiece_path(request: pytest.FixtureRequest) -> Path:
    return _cached(request, "wordpiece", tokenizers_offline.build_wordpiece)


@pytest.fixture(scope="session")
def qwen(qwen_path: Path) -> Any:
    from sftmask.tokenizer import load_tokenizer

    return load_tokenizer(str(qwen_path))


@pytest.fixture(scope="session")
def mistral(mistral_path: Path) -> Any:
    from sftmask.tokenizer import load_tokenizer

    return load_tokenizer(str(mistral_path))


@pytest.fixture(scope="session")
def wordpiece(wordpiece_path: Path) -> Any:
    from sftmask.tokenizer import load_tokenizer

    return load_tokenizer(str(wordpiece_path))
