"""MkDocs hooks (mkdocs.yml `hooks:`): the site's home page is README.md, with its links to
``docs/...`` made relative to the site, so the front page is written once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"


def home_page(readme: str) -> str:
    """README.md as the site's index page: ``docs/x.md`` links become ``x.md``; ARCHITECTURE.md is
    the site's architecture page."""
    return readme.replace("](docs/", "](").replace("](ARCHITECTURE.md)", "](architecture.md)")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri == "index.md":
        return home_page(README.read_text(encoding="utf-8"))
    return markdown
