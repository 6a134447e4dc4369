"""The test suite's own machinery: automatic markers (tests/markers.py), Hypothesis profiles,
downloads that skip instead of failing, and no SIGTERM handler inside pytest."""

from __future__ import annotations

import signal
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from sftmask.cli.app import app
from tests import downloads
from tests.cli import test_build, test_faults
from tests.helpers import examples
from tests.markers import markers_for
from tests.tokenization import test_families


def _marks(function: Any, *fixtures: str, **params: object) -> set[str]:
    return markers_for(function, fixtures, params)


def test_a_test_that_runs_a_process_is_slow() -> None:
    # directly (subprocess), through a helper of the tests package (cli -> subprocess.run), a pty
    assert _marks(test_build.test_module_entry_point_runs) == {"slow"}
    assert _marks(test_faults.test_temp_dir_of_a_killed_build_is_removed_by_the_next_build, "qwen_path") == {"slow"}
    assert _marks(test_build.test_progress_shows_on_a_terminal_only_and_quiet_silences_it) == {"slow"}
    # an in-process CliRunner build is not
    assert _marks(test_faults.test_every_record_rejected_exits_3_and_writes_nothing, "qwen_path") == set()
    assert _marks(test_build.test_build_writes_loadable_shards_and_manifest, "sample_tokenizer_path") == set()


def test_ray_and_worker_process_fixtures_are_slow() -> None:
    assert _marks(test_build.test_every_command_has_help, "local_ray") == {"slow"}
    assert _marks(test_build.test_num_proc_output_is_byte_identical, "worker_processes") == {"slow"}


def test_a_test_module_that_imports_torch_is_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("tests.fake_training")
    module.torch = types.ModuleType("torch")  # type: ignore[attr-defined]
    exec("def test_loss():\n    return 1\n", module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert _marks(module.test_loss) == {"slow"}  # type: ignore[attr-defined]
    del module.torch  # type: ignore[attr-defined]
    assert _marks(module.test_loss) == set()  # type: ignore[attr-defined]


def test_family_fixtures_requested_by_name_or_by_parameter() -> None:
    assert _marks(test_families.test_a_wrong_rebuild_fails_its_check, "llama3_path") == {"families"}
    assert _marks(test_build.test_every_command_has_help, "published") == {"families"}
    # request.getfixturevalue(name): the parameter names the fixture (or `name`_path)
    check = test_families.test_family_matches_its_ground_truth
    assert _marks(check, "request", name="gpt2") == {"families"}
    assert _marks(check, "request", name="qwen") == set()


def test_hypothesis_counts_follow_the_profile() -> None:
    current = settings.get_current_profile_name()
    try:
        settings.load_profile("dev")
        assert examples(300) == settings.default.max_examples < 300
        assert examples(3) == 3
        settings.load_profile("ci")
        assert examples(300) == 300
    finally:
        settings.load_profile(current)


def test_a_missing_download_skips_naming_the_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFTMASK_TEST_CACHE", str(tmp_path))
    for part in downloads.PARTS:
        with pytest.raises(pytest.skip.Exception, match=r"run `python scripts/fetch_test_data\.py`"):
            downloads.require(part)
    (tmp_path / f"llama-cpp-python-{downloads.LLAMA_CPP_PYTHON}" / "templates").mkdir(parents=True)
    assert downloads.require("templates") == downloads.folder("templates")


def test_in_process_builds_leave_sigterm_to_pytest(
    tmp_path: Path, sample_tokenizer_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sftmask import pipeline

    pytest_handler = signal.getsignal(signal.SIGTERM)
    during: list[Any] = []
    build = pipeline.build

    def spy(*args: Any, **kwargs: Any) -> Any:
        during.append(signal.getsignal(signal.SIGTERM))
        return build(*args, **kwargs)

    monkeypatch.setattr(pipeline, "build", spy)
    data = test_build.write_jsonl(tmp_path / "in.jsonl", test_build.RECORDS)
    result = CliRunner().invoke(app, ["build", str(data), "-t", str(sample_tokenizer_path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert during == [pytest_handler]


def test_a_family_fixture_fails_a_test_not_marked_families() -> None:
    from types import SimpleNamespace

    from tests.conftest import _check_marked

    def node(marked: bool) -> Any:
        marker = object() if marked else None
        return SimpleNamespace(node=SimpleNamespace(nodeid="t.py::test_x", get_closest_marker=lambda name: marker))

    _check_marked(node(marked=True), "llama3")
    with pytest.raises(pytest.fail.Exception, match=r"t\.py::test_x uses llama3 but is not marked 'families'"):
        _check_marked(node(marked=False), "llama3")
