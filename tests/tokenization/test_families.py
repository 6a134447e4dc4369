"""The tokenizer families of tests/families.py: each cached fixture loads with AutoTokenizer and
still agrees with the ground truth its package ships (a stale or wrong cache fails here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import families


@pytest.mark.parametrize("name", families.FAMILY_NAMES)
def test_family_matches_its_ground_truth(request: pytest.FixtureRequest, name: str) -> None:
    folder: Path = request.getfixturevalue(f"{name}_path")
    family = families.FAMILIES[name]
    if family.needs_gguf:
        family.check(folder, request.getfixturevalue("llama_cpp_vocabs"))
    else:
        family.check(folder)
    tok: Any = request.getfixturevalue(name)
    assert tok.hf.is_fast and (folder / "tokenizer.json").exists()


def test_a_wrong_rebuild_fails_its_check(tmp_path: Path, llama3_path: Path) -> None:
    """The check is not vacuous: Llama 3 ranks split with GPT-2's regex differ from tiktoken."""
    import json
    import shutil

    broken = tmp_path / "llama3-gpt2-split"
    shutil.copytree(llama3_path, broken)
    spec = json.loads((broken / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    (broken / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(AssertionError):
        families.check_llama3(broken)
