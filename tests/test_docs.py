"""The documentation runs: every `sftmask` command of README.md and docs/ that works on the
repository's own files (`sample_data/`, `configs/`) succeeds as printed, and the site's home page
is README.md. Other commands (Hub names, your own files) are illustrations."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sftmask.cli.app import app

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"```(?:bash|sh|shell|console)\n(.*?)```", re.S)


def documented_commands() -> list[tuple[str, str]]:
    """(page, command) for each `sftmask ...` command of a shell block that names the repository's files."""
    found = []
    for page in PAGES:
        for block in SHELL_BLOCK.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                for part in line.split("&&"):
                    command = part.split(" #", 1)[0].strip()
                    if command.startswith("sftmask ") and re.search(r"\b(sample_data|configs)/", command):
                        found.append((page.relative_to(REPO).as_posix(), command))
    return found


COMMANDS = documented_commands()


def test_the_docs_have_runnable_commands() -> None:
    pages = {page for page, _ in COMMANDS}
    assert {"README.md", "docs/chat.md", "docs/first-subtoken.md", "docs/inputs.md"} <= pages


@pytest.mark.parametrize(("page", "command"), COMMANDS, ids=[f"{p}:{c[:60]}" for p, c in COMMANDS])
def test_documented_command_runs(page: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in ("sample_data", "configs"):
        (tmp_path / folder).symlink_to(REPO / folder)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0, f"{page}: {command}\n{result.output}"
    assert result.stdout.startswith("wrote "), result.stdout


def test_site_home_page_is_the_readme() -> None:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", REPO / "scripts" / "mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    home = hooks.home_page((REPO / "README.md").read_text(encoding="utf-8"))
    for target in re.findall(r"\]\(([^)#]+\.md)", home):
        assert (REPO / "docs" / target).is_file(), target
