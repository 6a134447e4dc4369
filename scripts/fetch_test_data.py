"""Fetch what the tokenizer-family tests need from the network, before pytest runs (CI runs it).

The llama-cpp-python source distribution comes from PyPI with pip, once; its GGUF vocabularies and
llama.cpp's published chat templates are kept in the test cache (``$SFTMASK_TEST_CACHE``, else
``~/.cache/sftmask-tests``), see tests/downloads.py. Without them those tests skip, naming this script.

Usage: .venv/bin/python scripts/fetch_test_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import downloads


def main() -> int:
    fetched = downloads.fetch()
    for part in downloads.PARTS:
        state = "fetched" if downloads.folder(part) in fetched else "present"
        print(f"llama-cpp-python {downloads.LLAMA_CPP_PYTHON} {part}: {state} in {downloads.folder(part)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
