"""Shared fixtures: offline real tokenizers, built once and cached across test sessions; the
automatic `slow`/`families` markers, the Hypothesis profiles, and no SIGTERM handler in pytest."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

from hypothesis import settings

from sftmask.tokenization.load import LoadedTokenizer
from tests import downloads, families, markers, tokenizers_offline
from tests.helpers import load_once

REPO = Path(__file__).resolve().parent.parent

# Hypothesis: `dev` (the default) tries few examples per property; `ci` (.ci/run sets
# HYPOTHESIS_PROFILE=ci) the count each test names (`tests.helpers.examples`), else Hypothesis' 100.
settings.register_profile("ci", print_blob=True)
settings.register_profile("dev", max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


DEFAULT_SELECTION = "not slow and not families"
"""pyproject.toml's `-m`: the fast set."""


def pytest_configure(config: pytest.Config) -> None:
    # A test named by its id (path::name) runs whatever its markers; `-m ...` still wins.
    if config.option.markexpr == DEFAULT_SELECTION and any("::" in arg for arg in config.args):
        config.option.markexpr = ""


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test `slow` and/or `families` from what it requests and does (tests/markers.py)."""
    for item in items:
        function = getattr(item, "function", None)
        if function is None:  # a doctest
            continue
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        for name in sorted(markers.markers_for(function, getattr(item, "fixturenames", ()), params)):
            item.add_marker(name)


@pytest.fixture(autouse=True, scope="session")
def _no_sigterm_handler_in_pytest() -> Iterator[None]:
    """In-process builds (CliRunner, `sftmask.build` with worker processes) leave SIGTERM to pytest.

    The CLI turns SIGTERM into an interrupt of the build; installed in here it would turn a CI
    runner's SIGTERM into an interrupted test instead of ending pytest. Its handling is tested on
    real processes (tests/cli/test_faults.py)."""
    install = signal.signal
    pid = os.getpid()

    def signal_but_sigterm(signum: Any, handler: Any) -> Any:
        if signum == signal.SIGTERM and os.getpid() == pid and threading.current_thread() is threading.main_thread():
            return signal.getsignal(signum)
        return install(signum, handler)

    signal.signal = signal_but_sigterm
    try:
        yield
    finally:
        signal.signal = install


@pytest.fixture(autouse=True, scope="session")
def _tokenizers_loaded_once() -> Iterator[None]:
    """CLI builds and `sftmask.build` calls given a fixture's folder get the tokenizer loaded once
    (`load_once`); loading itself is tested on fresh loads (tests/tokenization/test_load_direct.py)."""
    from sftmask import opening
    from sftmask.tokenization import load

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(load, "load_tokenizer", load_once)
        patch.setattr(opening, "load_tokenizer", load_once)
        yield


@pytest.fixture
def worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.cpu_count()`` says 8, so ``--num-proc 2`` starts its worker processes on any machine
    (sftmask gives each worker two cores); a test that requests this is marked `slow`."""
    monkeypatch.setattr(os, "cpu_count", lambda: 8)


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
    root = Path(downloads.cache_dir("tokenizers")) / versions
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
    return load_once(str(llama_legacy_path))


@pytest.fixture(scope="session")
def wordpiece_path(request: pytest.FixtureRequest) -> Path:
    return _cached(request, "wordpiece", tokenizers_offline.build_wordpiece)


@pytest.fixture(scope="session")
def qwen(qwen_path: Path) -> Any:
    return load_once(str(qwen_path))


@pytest.fixture(scope="session")
def mistral(mistral_path: Path) -> Any:
    return load_once(str(mistral_path))


@pytest.fixture(scope="session")
def wordpiece(wordpiece_path: Path) -> Any:
    return load_once(str(wordpiece_path))


@pytest.fixture(scope="session")
def sample_tokenizer_path() -> Path:
    """The small byte-level BPE of sample_data/tokenizer (NFC, ChatML template, EOS `<|im_end|>`, 6,000
    tokens): loads in a fraction of Qwen's time, for tests where the tokenizer family does not matter."""
    return REPO / "sample_data" / "tokenizer"


# --- tokenizer families (tests/families.py) ---------------------------------------------------


def _check_marked(request: pytest.FixtureRequest, fixture: str) -> None:
    """A test using a family fixture must be marked `families` (the default run leaves those out):
    fails one whose use tests/markers.py did not see, e.g. a fixture name computed in the test."""
    if request.node.get_closest_marker("families") is None:
        pytest.fail(
            f"{request.node.nodeid} uses {fixture} but is not marked 'families': request it as an "
            "argument, or parametrize over its name and call request.getfixturevalue (tests/markers.py)"
        )


@pytest.fixture
def llama_cpp_vocabs(request: pytest.FixtureRequest) -> Path:
    """The GGUF vocabularies (and llama.cpp's test encodings) of the llama-cpp-python sdist
    (tests/downloads.py), fetched before the run by scripts/fetch_test_data.py; skips without them."""
    _check_marked(request, "llama_cpp_vocabs")
    return downloads.require("vocabs")


def _family_path(request: pytest.FixtureRequest, name: str) -> Path:
    family = families.FAMILIES[name]
    if not family.needs_gguf:
        return _cached(request, name, family.build, sources=(Path(families.__file__),), packages=family.packages)
    vocabs = downloads.require("vocabs")
    return _cached(
        request,
        f"{name}-llama-cpp-python-{downloads.LLAMA_CPP_PYTHON}",
        lambda folder: family.build(folder, vocabs),
        sources=(Path(families.__file__),),
        packages=family.packages,
    )


def _family_fixtures(name: str) -> tuple[Any, ...]:
    """Fixtures `<name>_path` (the saved folder) and `<name>` (the loaded tokenizer) for a family:
    built and loaded once per run (session-scoped `_<name>_built`, `_<name>_loaded`)."""

    def built(request: pytest.FixtureRequest) -> Path:
        return _family_path(request, name)

    def loaded(request: pytest.FixtureRequest) -> LoadedTokenizer:
        return load_once(str(request.getfixturevalue(f"_{name}_built")))

    def path_fixture(request: pytest.FixtureRequest) -> Path:
        _check_marked(request, f"{name}_path")
        return Path(request.getfixturevalue(f"_{name}_built"))

    def tokenizer_fixture(request: pytest.FixtureRequest) -> LoadedTokenizer:
        _check_marked(request, name)
        return cast(LoadedTokenizer, request.getfixturevalue(f"_{name}_loaded"))

    path_fixture.__doc__ = f"Folder of the {name} tokenizer (tests/families.py), built once and cached."
    tokenizer_fixture.__doc__ = f"The {name} tokenizer loaded with sftmask.tokenization.load.load_tokenizer."
    return (
        pytest.fixture(scope="session", name=f"_{name}_built")(built),
        pytest.fixture(scope="session", name=f"_{name}_loaded")(loaded),
        pytest.fixture(name=f"{name}_path")(path_fixture),
        pytest.fixture(name=name)(tokenizer_fixture),
    )


for _name in families.FAMILY_NAMES:
    (
        globals()[f"_{_name}_built"],
        globals()[f"_{_name}_loaded"],
        globals()[f"_{_name}_path"],
        globals()[f"_{_name}"],
    ) = _family_fixtures(_name)


@pytest.fixture
def published(request: pytest.FixtureRequest) -> Path:
    """llama.cpp's copies of published chat templates (tests/published_templates.py), fetched before
    the run by scripts/fetch_test_data.py; skips without them."""
    _check_marked(request, "published")
    return downloads.require("templates")


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


@pytest.fixture(scope="session")
def local_ray() -> Any:
    """A local Ray with 2 CPUs (the CI machine's size), one for the whole session: every test that
    builds with --engine ray in this process shares it (a second `ray.init` would fail)."""
    ray = pytest.importorskip("ray")
    from sftmask import limits

    limits.settle()  # as the Ray engine does before ray.init: no render's address-space cap left on
    for attempt in (1, 2):
        try:
            # "local": never join a cluster that `ray start` (or a benchmark) runs on this machine
            ray.init(
                address="local",
                num_cpus=2,
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=300 * 2**20,
            )
            break
        except Exception as exc:  # Ray gives its raylet a fixed 30 s to register: an overloaded machine can miss it
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
    yield ray
    ray.shutdown()
