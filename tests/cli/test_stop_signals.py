"""Which signal stopped a command, whatever became of the exception its handler raised
(`sftmask.cli.supervisor.stopped_by`). Through the CLI and Ray: tests/engines/test_ray_signals.py."""

from __future__ import annotations

import signal

import pytest

from sftmask.cli import supervisor
from sftmask.cli.supervisor import Terminated, stop_on_signals, stopped_by


def _swallowing_wait() -> None:
    """What `ray.get` does with an exception raised while it waits: a new, plain KeyboardInterrupt.
    The handler is called as Python calls it (tests/conftest.py keeps SIGTERM handlers out of pytest)."""
    try:
        supervisor._stop(signal.SIGTERM, None)
    except KeyboardInterrupt:
        raise KeyboardInterrupt from None


def test_a_sigterm_whose_exception_was_replaced_is_still_a_sigterm() -> None:
    with pytest.raises(KeyboardInterrupt) as caught, stop_on_signals():
        _swallowing_wait()
    assert not isinstance(caught.value, Terminated)
    assert stopped_by(caught.value) == signal.SIGTERM


@pytest.mark.parametrize(("exc", "signum"), [(KeyboardInterrupt(), signal.SIGINT), (Terminated(), signal.SIGTERM)])
def test_without_a_handled_signal_the_exception_says_which(exc: KeyboardInterrupt, signum: int) -> None:
    with stop_on_signals():
        pass  # a block that handled no signal forgets the last one
    assert stopped_by(exc) == signum
