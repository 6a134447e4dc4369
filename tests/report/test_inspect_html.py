"""`sftmask inspect --html`: the page opens in headless Chromium and shows trained and masked tokens."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sftmask.cli.app import app
from tests.report.test_inspect import write_jsonl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# CI installs Debian's chromium (.ci/run): there the test must run, not skip.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="chromium not installed (apt-get install chromium)"
)

TRAINED_BG = (0x7E, 0xE0, 0x8A)  # .tok.trained
MASKED_BG = (0xDC, 0xDC, 0xDC)  # .tok.masked


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None, "CI is set but chromium is not installed"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=True)


class Tokens(HTMLParser):
    """Collects (classes, text) of every token span in the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[tuple[set[str], str]] = []
        self._open: set[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        if tag == "span" and "tok" in classes:
            self._open = classes
            self.tokens.append((classes, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            classes, text = self.tokens[-1]
            self.tokens[-1] = (classes, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._open = None


def test_html_page_shows_trained_and_masked_tokens_in_chromium(tmp_path: Path, mistral_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "Translate to French: Good morning", "response": "\nBonjour"}])
    page = tmp_path / "page.html"
    result = CliRunner().invoke(app, ["inspect", str(data), "-t", str(mistral_path), "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote 1 row to {page}\n"

    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    parser = Tokens()
    parser.feed(dom)
    row = parser.tokens[3:]  # after the legend's three samples
    trained = [text for classes, text in row if "trained" in classes]
    masked = [text for classes, text in row if "masked" in classes]
    assert trained == ["↵\n", "Bon", "jour", "</s>"]
    assert masked == ["<s>", " Trans", "late", " to", " French", ":", " Good", " morning"]
    assert [("special" in classes) for classes, _ in row] == [True, *[False] * 10, True]

    shot = tmp_path / "shot.png"
    chromium(tmp_path, "--window-size=900,500", f"--screenshot={shot}", page.as_uri())
    import matplotlib.image

    pixels = (matplotlib.image.imread(str(shot))[..., :3] * 255).round().astype(int)

    def count(rgb: tuple[int, int, int]) -> int:
        return int((pixels == rgb).all(axis=-1).sum())

    # Both kinds of token are painted: hundreds of pixels of each background.
    assert count(TRAINED_BG) > 300 and count(MASKED_BG) > 300
