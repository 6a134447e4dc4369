"""The `sftmask` command's entry point: Python's cyclic garbage collector paused while it starts.

Starting a build imports Typer, pydantic, numpy, pyarrow and sftmask's config models: some
90,000 objects tracked by the collector that live as long as the process. The collector runs
after every 700 new ones and walks the young ones, now and then all of them, and finds nothing to
free: about 50 ms of CPU in a 1.6 s one-record build. `main` switches it off before importing the
command line; `resume`, called when a command starts its work (and by the supervising process
once it has forked the child that does it), moves every object made so far into the permanent
generation (`gc.freeze`: later collections never walk them again, in a long build too) and
switches it back on. Only a pause made here is resumed: in-process callers (`CliRunner` tests,
the library) keep their collector as it was.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Switch the collector off until `resume` (if it is on)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """End a `pause`: freeze the objects made while starting and switch the collector back on."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def main() -> None:
    """The ``sftmask`` command (and ``python -m sftmask``): `sftmask.cli.app.run` with the
    collector paused while the command line is imported and set up, ending the process without
    unwinding it (atexit functions run; code after this call does not)."""
    pause()
    from sftmask.cli.app import run

    run(exit_fast=True)
