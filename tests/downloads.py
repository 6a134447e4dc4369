"""What the tests need from the network, fetched before pytest runs and never during a test.

`scripts/fetch_test_data.py` (run by `.ci/run`) downloads the llama-cpp-python source distribution
from PyPI once, with pip, and keeps two parts of it in the test cache:

- ``vocabs/``: the GGUF vocabularies of `GGUF_VOCABS` with llama.cpp's test texts and ids
  (``.inp``/``.out``), from which tests/families.py rebuilds gpt2, phi3, gemma4 and xlmr;
- ``templates/``: llama.cpp's copies of published chat templates (tests/published_templates.py).

Inside the tests `require` returns the folder, or skips the test with the command that fetches it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

LLAMA_CPP_PYTHON = "0.3.36"
"""The llama-cpp-python sdist whose vendored llama.cpp/models files are used."""
GGUF_VOCABS = ("gpt-2", "phi-3", "gemma-4", "nomic-bert-moe")
FETCH_COMMAND = "python scripts/fetch_test_data.py"
PARTS = ("vocabs", "templates")


def cache_dir(name: str) -> Path:
    """A folder for what the fixtures build or fetch, outside the checkout (``$SFTMASK_TEST_CACHE``,
    else ``~/.cache/sftmask-tests``): shared by every checkout and worktree on the machine and kept
    across CI runs; entries are keyed by the package versions and builder code they come from."""
    root = Path(os.environ.get("SFTMASK_TEST_CACHE") or Path.home() / ".cache" / "sftmask-tests")
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def folder(part: str) -> Path:
    """Where `part` (``vocabs`` or ``templates``) of the sdist is kept."""
    assert part in PARTS, part
    return cache_dir(f"llama-cpp-python-{LLAMA_CPP_PYTHON}") / part


def require(part: str) -> Path:
    """The fetched `part`, or a skip that names the command fetching it (inside a test or fixture)."""
    import pytest

    found = folder(part)
    if not found.is_dir():
        pytest.skip(f"needs llama-cpp-python {LLAMA_CPP_PYTHON}'s {part} (not fetched): run `{FETCH_COMMAND}`")
    return found


def _wanted_vocab(name: str) -> bool:
    return name in {f"ggml-vocab-{vocab}.gguf{suffix}" for vocab in GGUF_VOCABS for suffix in ("", ".inp", ".out")}


def fetch() -> list[Path]:
    """Download the sdist (unless every part is already there) and keep its parts; the folders
    that were missing and are now in place."""
    missing = [part for part in PARTS if not folder(part).is_dir()]
    if not missing:
        return []
    root = folder(PARTS[0]).parent
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*command, "-d", tmp, f"llama-cpp-python=={LLAMA_CPP_PYTHON}"], check=True)
        (sdist,) = Path(tmp).glob("llama_cpp_python-*.tar.gz")
        staged = {part: Path(tmp) / part for part in missing}
        for path in staged.values():
            path.mkdir()
        with tarfile.open(sdist) as archive:
            for member in archive:
                name = member.name.rsplit("/", 1)[-1]
                if not member.isfile():
                    continue
                if "vocabs" in staged and "/vendor/llama.cpp/models/" in member.name and _wanted_vocab(name):
                    target = staged["vocabs"] / name
                elif "templates" in staged and "/vendor/llama.cpp/models/templates/" in member.name:
                    target = staged["templates"] / name
                else:
                    continue
                source = archive.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
        if "vocabs" in staged:
            # nomic-bert-moe has no .inp/.out test files upstream
            absent = sorted(
                f"ggml-vocab-{v}.gguf{s}"
                for v in GGUF_VOCABS
                for s in ("", ".inp", ".out")
                if not (staged["vocabs"] / f"ggml-vocab-{v}.gguf{s}").exists() and (v != "nomic-bert-moe" or not s)
            )
            assert not absent, f"llama-cpp-python {LLAMA_CPP_PYTHON} sdist lacks {absent}"
        if "templates" in staged:
            assert (staged["templates"] / "Qwen-Qwen3-0.6B.jinja").exists(), "the sdist has no models/templates"
        done = []
        for part, path in staged.items():
            try:
                path.rename(folder(part))  # another run that finished first wins
            except OSError:
                if not folder(part).is_dir():
                    raise
                shutil.rmtree(path, ignore_errors=True)
            done.append(folder(part))
    return done
