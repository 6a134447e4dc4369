"""The render limit (sftmask.limits.render_limit) leaves the process as it found it."""

from __future__ import annotations

import sys
import time

import pytest

from sftmask import limits, supervision

resource = pytest.importorskip("resource")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="address-space cap on Linux")
def test_the_address_space_cap_is_lifted_whatever_arrives_while_the_block_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The watchdog's exception lands at this thread's next Python call: here, the first one after
    # the block (supervision.rendering). The cap must already be off by then, or the process keeps
    # it for good (Ray then aborted starting its processes in the same pytest process).
    before = resource.getrlimit(resource.RLIMIT_AS)
    calls: list[float] = []

    def arrives(deadline: float) -> None:
        calls.append(deadline)
        if deadline == 0.0:
            raise limits.RenderTimeExceeded

    monkeypatch.setattr(supervision, "rendering", arrives)
    with pytest.raises(limits.RenderTimeExceeded), limits.render_limit(seconds=30, memory_bytes=64 << 20):
        assert resource.getrlimit(resource.RLIMIT_AS) != before  # capped while the block runs
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert limits._capped is None and calls[-1] == 0.0


def test_a_block_that_overruns_raises_once_and_leaves_nothing_pending() -> None:
    with pytest.raises(limits.RenderTimeExceeded), limits.render_limit(seconds=0.05):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the watchdog stops this loop
            pass
    time.sleep(0.1)  # a pending exception would be raised at the next call or loop
    for _ in range(1000):
        pass
    assert limits._capped is None


def _mapped_bytes() -> int:
    return limits._statm()[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/statm on Linux")
def test_the_reserve_is_address_space_every_block_gives_back() -> None:
    # The reserve exists to be unmapped as the block ends (room under the cap to lift it), in every
    # block, not only the first: a 16 MiB bytearray came from malloc's heap once its threshold had
    # grown past it, and freeing it gave no address space back.
    for _ in range(3):
        with limits.render_limit(seconds=30):
            inside = _mapped_bytes()
        assert inside - _mapped_bytes() >= limits.RESERVE_BYTES
