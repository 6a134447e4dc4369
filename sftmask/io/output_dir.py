"""The output directory of a build: a temporary sibling written while the build runs and renamed
into place at the end, under a lock; what killed builds left repaired; the inputs and an existing
output that is not sftmask's protected. Remote outputs are staged locally and uploaded, manifest last."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import orjson

from sftmask import supervision
from sftmask.errors import OutputError
from sftmask.io import remote
from sftmask.supervision import owner_pid

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"


def _refuse_unless_replaceable(path: object, *, empty: bool, overwrite: bool, ours: Callable[[], bool]) -> None:
    """The rule both kinds of output follow: an empty (or missing) directory is replaced; one with
    files only with `overwrite`, and only when it is a previous sftmask output (`ours()`).

    Raises:
        OutputError: the directory may not be replaced.
    """
    if empty:
        return
    if not overwrite:
        raise OutputError(f"output directory {path} exists and is not empty; pass --overwrite to replace it")
    if not ours():
        raise OutputError(
            f"output directory {path} is not empty and is not a sftmask output (no {MANIFEST} written "
            "by sftmask); --overwrite replaces only a previous sftmask output or an empty directory: "
            "choose another --output, or empty it yourself"
        )


def _input_inside(kept: object, path: object) -> OutputError:
    return OutputError(
        f"{kept} lies inside the output directory {path}, which the build replaces; choose another --output"
    )


DYING_HOLDER_SECONDS = 5.0
"""How long a build waits for the lock of a build whose `sftmask` process is gone (killed): its
work process, which holds the lock, is being ended by the kernel (`cli.supervisor`)."""


class OutputDir:
    """A build's output directory: written under a temporary name, renamed when complete.

    Used as a context manager: on an exception the temporary directory is removed, so a failed
    run leaves nothing that looks complete. Only an empty directory or a previous sftmask output
    (one with our manifest) is ever replaced, and never one that holds an input of the build.

    Args:
        path: the output directory.
        overwrite: replace a previous sftmask output.
        keep: paths the build reads (inputs, tokenizer folder, templates); the output must not
            hold any of them, since replacing it would delete them.
    """

    def __init__(self, path: str | Path, *, overwrite: bool, keep: Sequence[str | Path] = ()) -> None:
        self.path = Path(path)
        self.absolute = Path(os.path.abspath(self.path))
        if self.absolute.parent == self.absolute:
            raise OutputError(f"output {self.path} is the root directory; choose a directory to create")
        real = Path(os.path.realpath(self.absolute))
        for kept in keep:
            if Path(os.path.realpath(kept)).is_relative_to(real):
                raise _input_inside(kept, self.path)
        self.overwrite = overwrite
        self.tmp = self._sibling("tmp", owner_pid())
        self._lock: int | None = None
        self.notes: list[str] = []
        """What opening the directory repaired (stale temporary directories removed, a swap finished)."""

    def _sibling(self, kind: str, pid: int | str) -> Path:
        return self.absolute.parent / f".{self.absolute.name}.sftmask-{kind}-{pid}"

    def _take_lock(self) -> None:
        """Hold an exclusive lock on the output for the whole build; another build holding it fails."""
        path = self._sibling("lock", "file")
        deadline = time.monotonic() + DYING_HOLDER_SECONDS
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                if holder.isdigit() and supervision.gone(int(holder)) and time.monotonic() < deadline:
                    # The build whose `sftmask` process was killed: the kernel is ending its
                    # work process (which holds the lock) this very moment.
                    time.sleep(0.05)
                    continue
                raise OutputError(
                    f"output {self.path} is being written by another sftmask build (pid {holder}); "
                    "wait for it to finish, or choose another --output"
                ) from None
            try:  # the last holder may have removed the file between our open and flock
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{owner_pid()}\n".encode())
        self._lock = fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._sibling("lock", "file").unlink()
            os.close(self._lock)
            self._lock = None
            supervision.untrack("output", self.absolute)

    def _repair(self) -> None:
        """Finish an interrupted swap and remove what killed builds left (we hold the lock: no
        other build is writing them)."""
        prefix = glob.escape(f".{self.absolute.name}.sftmask-")
        leftovers = sorted(
            (p for kind in ("tmp", "old") for p in self.absolute.parent.glob(f"{prefix}{kind}-*") if p != self.tmp),
            key=lambda p: p.stat().st_mtime,
        )
        if not self.absolute.exists():
            # Killed between commit's two renames (or just before the first): a complete new
            # output has its manifest (written last, atomically); else the old one is whole.
            complete = [p for p in leftovers if "-tmp-" in p.name and (p / MANIFEST).is_file()]
            complete = complete or [p for p in leftovers if "-old-" in p.name and is_sftmask_output(p)]
            if complete:
                complete[-1].rename(self.absolute)
                leftovers.remove(complete[-1])
                self._note(f"restored {self.path} from {complete[-1].name}, left by a build killed while committing")
        for stale in leftovers:
            shutil.rmtree(stale, ignore_errors=True)
            self._note(f"removed {stale.name}, left by a killed build")

    def _note(self, message: str) -> None:
        self.notes.append(message)
        log.warning("%s", message)

    def _check_replaceable(self) -> None:
        if not self.absolute.exists():
            return
        if not self.absolute.is_dir():
            raise OutputError(f"output {self.path} exists and is not a directory")
        _refuse_unless_replaceable(
            self.path,
            empty=not any(self.absolute.iterdir()),
            overwrite=self.overwrite,
            ours=lambda: is_sftmask_output(self.absolute),
        )

    def __enter__(self) -> OutputDir:
        try:
            self.absolute.parent.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except OSError as exc:
            raise OutputError(f"cannot create output directory {self.path}: {exc.strerror or exc}") from exc
        supervision.track("output", self.absolute)
        try:
            self._repair()
            self._check_replaceable()
            if self.tmp.exists():
                shutil.rmtree(self.tmp)
            self.tmp.mkdir()
        except OSError as exc:
            self._release_lock()
            raise OutputError(f"cannot create output directory {self.path}: {exc.strerror or exc}") from exc
        except BaseException:
            self._release_lock()
            raise
        return self

    def remove_killed(self) -> None:
        """Remove what a build of this process's left here when it was killed (the supervisor's
        clean-up, `sftmask.cli.supervisor`): its temporary directory and its lock; an old output it
        had moved aside to commit is put back unless the new one is in place."""
        try:
            self._take_lock()
        except OutputError:
            return  # another build writes here now; it removes what killed builds left
        try:
            old = self._sibling("old", owner_pid())
            if old.exists() and not self.absolute.exists():
                old.rename(self.absolute)
            shutil.rmtree(self.tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            self._release_lock()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            self._release_lock()

    def commit(self) -> None:
        """Move the finished temporary directory into place (replacing an old one if allowed)."""
        old = self._sibling("old", owner_pid())
        if self.absolute.exists():
            self.absolute.rename(old)
        self.tmp.rename(self.absolute)
        shutil.rmtree(old, ignore_errors=True)


class RemoteOutputDir:
    """A build's output on a remote filesystem (``s3://bucket/sft``): staged locally, uploaded at the end.

    Object stores have no atomic rename, so completeness is the manifest, as everywhere in
    sftmask: shards and rejects are uploaded first and ``manifest.json`` last, and a replaced
    output loses its manifest before anything else. A build that fails (or is killed) at any
    point leaves no remote directory that `validate`/`open_output` would take as complete. There
    is no lock across machines: two builds to one remote output are the user's to avoid.

    The same rules as `OutputDir` decide what may be replaced: nothing, an empty prefix, or (with
    `overwrite`) a previous sftmask output.
    """

    def __init__(self, url: str, *, overwrite: bool, keep: Sequence[str] = ()) -> None:
        self.path = url.rstrip("/")
        for kept in keep:
            if kept.rstrip("/") == self.path or kept.startswith(self.path + "/"):
                raise _input_inside(kept, self.path)
        self.overwrite = overwrite
        self.notes: list[str] = []
        self._fs, self._root = remote.filesystem(self.path, OutputError)
        self._staging: str | None = None

    @property
    def tmp(self) -> Path:
        """The local staging directory the shards are written into."""
        assert self._staging is not None, "used outside its with-block"
        return Path(self._staging)

    def _existing(self) -> list[str]:
        with remote.remote_errors(self.path, OutputError):
            self._fs.invalidate_cache(self._root)  # what is there now, not what this process last listed
            if not remote.answer_in_time(self._fs, "exists", self._root):
                return []
            if not self._fs.isdir(self._root):
                raise OutputError(f"output {self.path} exists and is not a directory")
            return list(self._fs.find(self._root))

    def _check_replaceable(self, existing: list[str]) -> None:
        manifest = f"{self._root}/{MANIFEST}"

        def ours() -> bool:
            with remote.remote_errors(self.path, OutputError):
                return manifest in existing and _is_manifest(self._fs.cat_file(manifest))

        _refuse_unless_replaceable(self.path, empty=not existing, overwrite=self.overwrite, ours=ours)

    def __enter__(self) -> RemoteOutputDir:
        import tempfile

        self._check_replaceable(self._existing())
        self._staging = tempfile.mkdtemp(prefix="sftmask-staging-")
        supervision.track("folder", self._staging)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            supervision.untrack("folder", self._staging)
            self._staging = None

    def commit(self) -> None:
        """Replace the remote output with the staged one: old manifest off, old files off, new
        files up, new manifest up last."""
        existing = self._existing()
        self._check_replaceable(existing)  # it may have changed while the build ran
        staged = sorted(p for p in self.tmp.rglob("*") if p.is_file() and p.name != MANIFEST)
        with remote.remote_errors(self.path, OutputError):
            manifest = f"{self._root}/{MANIFEST}"
            if manifest in existing:
                self._fs.rm_file(manifest)
            for name in existing:
                if name != manifest:
                    self._fs.rm_file(name)
            for path in staged:
                self._fs.put_file(str(path), f"{self._root}/{path.relative_to(self.tmp).as_posix()}")
            self._fs.put_file(str(self.tmp / MANIFEST), manifest)


def open_output_dir(path: str, *, overwrite: bool, keep: Sequence[str | Path] = ()) -> OutputDir | RemoteOutputDir:
    """The output directory for `path`: `RemoteOutputDir` for a URL of a remote filesystem, else
    `OutputDir` (plain paths and URLs that land on this machine's filesystem, resolved to their path,
    so the local rules apply to them: an output that holds an input is refused however it is spelt).

    Raises:
        OutputError: the output would not outlive the build (``memory://``), or holds an input.
    """
    if remote.is_remote(path):
        if remote.in_archive(path):
            raise OutputError(
                f"output {path} is inside an archive, which sftmask reads but does not write; "
                "write to a directory or a URL of object storage (s3://, gs://, ...) and archive that"
            )
        if not remote.outlives_build(path, OutputError):
            raise OutputError(
                f"output {path} lives in this process's memory and would vanish when the build ends; "
                "choose a directory or a URL of lasting storage (s3://, gs://, ...)"
            )
        return RemoteOutputDir(path, overwrite=overwrite, keep=[str(k) for k in keep if remote.is_remote(str(k))])
    return OutputDir(
        remote.local_path(path),
        overwrite=overwrite,
        keep=[remote.local_path(str(k)) for k in keep if not remote.is_remote(str(k))],
    )


def _is_manifest(text: bytes) -> bool:
    try:
        manifest = orjson.loads(text)  # a manifest nested thousands deep: an error, not a RecursionError
    except ValueError:
        return False
    return isinstance(manifest, dict) and "sftmask_version" in manifest and "shards" in manifest


def is_sftmask_output(directory: Path) -> bool:
    """Whether `directory` holds a manifest that `sftmask build` wrote."""
    try:
        return _is_manifest((directory / MANIFEST).read_bytes())
    except OSError:
        return False
