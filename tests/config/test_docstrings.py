"""The options' help comes from their fields' docstrings, read from the source once per version of
the file and kept in the user's cache (`sftmask.config.common.attribute_docstrings`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sftmask.config import common, options


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    common._module_docstrings.cache_clear()
    yield tmp_path / "cache" / "sftmask" / "docstrings"
    common._module_docstrings.cache_clear()


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: str) -> None:
        raise AssertionError(f"parsed {path} again")

    monkeypatch.setattr(common, "_classes", refuse)
    common._module_docstrings.cache_clear()  # this process's memory: only the user's cache remains


def test_the_docstrings_are_read_once_per_version_of_the_file(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = common.attribute_docstrings(options.ChatOptions)
    assert parsed["roles_to_train"].startswith("assistant-only: comma-separated roles whose turns are trained")
    assert parsed == {k: f.description for k, f in options.ChatOptions.model_fields.items() if k in parsed}
    assert len(list(cache.iterdir())) == 1
    _no_parsing(monkeypatch)
    assert common.attribute_docstrings(options.ChatOptions) == parsed


def test_an_edited_module_is_read_again(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "edited_options.py"
    source.write_text('class A:\n    x: int = 1\n    """First."""\n')
    monkeypatch.setitem(sys.modules, "edited_options", type(sys)("edited_options"))
    sys.modules["edited_options"].__file__ = str(source)
    A = type("A", (), {"__module__": "edited_options", "__qualname__": "A"})
    assert common.attribute_docstrings(A) == {"x": "First."}
    before = source.stat()
    source.write_text('class A:\n    x: int = 1\n    """Other."""\n')
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    common._module_docstrings.cache_clear()  # a new process: nothing in memory
    common._classes.cache_clear()
    assert common.attribute_docstrings(A) == {"x": "Other."}
