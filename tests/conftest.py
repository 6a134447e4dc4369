"""Shared fixtures: offline real tokenizers, built once and cached across test sessions."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

from tests import families, tokenizers_offline

REPO = Path(__file__).resolve().parent.parent


def _cache_dir(name: str) -> Path:
    """A folder for what the fixtures build or fetch, outside the checkout (``$SFTMASK_TEST_CACHE``,
    else ``~/.cache/sftmask-tests``): shared by every checkout and worktree on the machine and kept
    across CI runs; entries are keyed by the package versions and builder code they come from."""
    root = Path(os.environ.get("SFTMASK_TEST_CACHE") or Path.home() / ".cache" / "sftmask-tests")
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _settle(tmp: Path, folder: Path) -> None:
    """Move a finished build into place; another test run (a worktree, a CI run) that finished
    first wins, and this one's copy is dropped."""
    try:
        tmp.rename(folder)
    except OSError:
        if not folder.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _cached(
    request: pytest.FixtureRequest,
    name: str,
    build: Callable[[Path], Any],
    *,
    sources: tuple[Path, ...] = (Path(tokenizers_offline.__file__), tokenizers_offline.WORDPIECE_VOCAB),
    packages: tuple[str, ...] = (),
) -> Path:
    # Keyed by library versions and by the builder code, so a changed fixture is rebuilt.
    source = hashlib.sha256()
    for path in sources:
        source.update(path.read_bytes())
    versions = "-".join(importlib.metadata.version(p) for p in ("transformers", "tokenizers", *packages))
    versions += "-" + source.hexdigest()[:12]
    root = Path(_cache_dir("tokenizers")) / versions
    folder = root / name
    if not (folder / "tokenizer_config.json").exists():
        tmp = root / f"{name}.tmp-{os.getpid()}"
        build(tmp)
        _settle(tmp, folder)
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
    from sftmask.tokenization.load import load_tokenizer

    return load_tokenizer(str(llama_legacy_path))


@pytest.fixture(scope="session")
def wordpiece_path(request: pytest.FixtureRequest) -> Path:
    return _cached(request, "wordpiece", tokenizers_offline.build_wordpiece)


@pytest.fixture(scope="session")
def qwen(qwen_path: Path) -> Any:
    from sftmask.tokenization.load import load_tokenizer

    return load_tokenizer(str(qwen_path))


@pytest.fixture(scope="session")
def mistral(mistral_path: Path) -> Any:
    from sftmask.tokenization.load import load_tokenizer

    return load_tokenizer(str(mistral_path))


@pytest.fixture(scope="session")
def wordpiece(wordpiece_path: Path) -> Any:
    from sftmask.tokenization.load import load_tokenizer

    return load_tokenizer(str(wordpiece_path))


@pytest.fixture(scope="session")
def sample_tokenizer_path() -> Path:
    """The small byte-level BPE of sample_data/tokenizer (NFC, ChatML template, EOS `<|im_end|>`, 6,000
    tokens): loads in a fraction of Qwen's time, for tests where the tokenizer family does not matter."""
    return REPO / "sample_data" / "tokenizer"


# --- tokenizer families (tests/families.py) ---------------------------------------------------


@pytest.fixture(scope="session")
def llama_cpp_vocabs(request: pytest.FixtureRequest) -> Path:
    """The GGUF vocabularies (and llama.cpp's test encodings) of the llama-cpp-python sdist,
    fetched from PyPI once and cached."""
    root = Path(_cache_dir("llama-cpp-vocabs"))
    folder = root / families.LLAMA_CPP_PYTHON
    if not folder.exists():
        tmp = root / f"{families.LLAMA_CPP_PYTHON}.tmp-{os.getpid()}"
        families.fetch_llama_cpp_vocabs(tmp)
        _settle(tmp, folder)
    return folder


def _family_path(request: pytest.FixtureRequest, name: str) -> Path:
    family = families.FAMILIES[name]
    if not family.needs_gguf:
        return _cached(request, name, family.build, sources=(Path(families.__file__),), packages=family.packages)
    vocabs = request.getfixturevalue("llama_cpp_vocabs")
    return _cached(
        request,
        f"{name}-llama-cpp-python-{families.LLAMA_CPP_PYTHON}",
        lambda folder: family.build(folder, vocabs),
        sources=(Path(families.__file__),),
        packages=family.packages,
    )


def _family_fixtures(name: str) -> tuple[Any, Any]:
    def path_fixture(request: pytest.FixtureRequest) -> Path:
        return _family_path(request, name)

    def tokenizer_fixture(request: pytest.FixtureRequest) -> Any:
        from sftmask.tokenization.load import load_tokenizer

        return load_tokenizer(str(request.getfixturevalue(f"{name}_path")))

    path_fixture.__doc__ = f"Folder of the {name} tokenizer (tests/families.py), built once and cached."
    tokenizer_fixture.__doc__ = f"The {name} tokenizer loaded with sftmask.tokenization.load.load_tokenizer."
    return (
        pytest.fixture(scope="session", name=f"{name}_path")(path_fixture),
        pytest.fixture(scope="session", name=name)(tokenizer_fixture),
    )


for _name in families.FAMILY_NAMES:
    globals()[f"_{_name}_path"], globals()[f"_{_name}"] = _family_fixtures(_name)


@pytest.fixture(scope="session")
def published(request: pytest.FixtureRequest) -> Path:
    """llama.cpp's copies of published chat templates (tests/published_templates.py), fetched once."""
    from tests import published_templates

    return published_templates.fetch(Path(_cache_dir("published-templates")))


def _standin_path(request: pytest.FixtureRequest, name: str) -> Path:
    from tests import published_templates

    def build(folder: Path) -> None:
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(request.getfixturevalue("qwen_path"))
        hf.add_special_tokens(published_templates.STANDIN_TOKENS[name])
        hf.save_pretrained(folder)

    return _cached(request, f"{name}-standin", build, sources=(Path(published_templates.__file__),))


@pytest.fixture(scope="session")
def cohere_standin(request: pytest.FixtureRequest) -> Any:
    """Qwen's byte-level BPE with Cohere's special tokens (Command R7B, Command A): no PyPI package
    ships a Cohere tokenizer, and the masks depend only on each marker being one special token."""
    from sftmask.tokenization.load import load_tokenizer

    return load_tokenizer(str(_standin_path(request, "cohere")))


@pytest.fixture(scope="session")
def exaone_standin(request: pytest.FixtureRequest) -> Any:
    """Qwen's byte-level BPE with EXAONE 4.0's special tokens ([|user|], [|assistant|], [|endofturn|], ...)."""
    from sftmask.tokenization.load import load_tokenizer

    return load_tokenizer(str(_standin_path(request, "exaone")))
