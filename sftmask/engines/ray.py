"""The Ray engine: `label_read_batch` over a build's batches as Ray tasks, rows in input order.

The inputs are read either in the driver or on the workers (`--ray-read`):

- driver: sftmask's reader runs in this process (every record keeps its file and line, kept
  columns keep one type over all files); each batch goes to a labelling task (`_label_batch`),
  at most `BATCHES_AHEAD_PER_WORKER` per labelling slot in flight.
- workers: the inputs are cut into parts (`readers.parts.plan_parts`: an uncompressed JSON lines
  file into byte ranges at line boundaries, a Parquet file into runs of row groups, about
  `PART_BATCHES` batches each; any other file whole), and one task per part (`_label_part`) reads
  it with `RecordReader.for_part` and labels its batches, wherever Ray places it (the files must be
  reachable from every node: `s3://` URLs or a shared filesystem), at most `PARTS_AHEAD_PER_WORKER`
  per labelling slot in flight. A reader error travels as a result, in its place in the input
  order. A JSON lines part numbers its lines from its own start: each part's task reports its
  lines, and this process adds those of the file's earlier parts to the lines of the rejects,
  errors and longest row of the next (`_shifted`), so every line is the local engine's.

Either way, as many labelling tasks run at a time as the nodes hold (`ray_cluster.pool_size`):
each Ray worker process fetches the build's `Job` (tokenizer included) from the object store once
(it is put there once) and labels batches with the same `label_read_batch` as the local engine.
Plain tasks, taken in the order they were sent (`ray.get` on the oldest): a task lost with its
worker or its node runs again elsewhere (Ray's task retries, `TASK_RETRIES`), and its result
carries the part or batch it is for, checked on arrival, so a lost or repeated batch is an error,
never a silently different output. (On Ray Data, the engine before, the driver spent CPU in
proportion to the build's wall time in Ray Data's scheduling loop, and a node lost mid-build
could leave its streaming read tasks' reconstruction hanging.)

With `--ray-write workers` the task also writes each batch's rows as a shard into the output's
temporary folder (`io.writer.write_part`, named by part and batch so that name order is input
order) and returns only counts, rejects and the shard's name, rows, hash and node: the rows never
reach this process, which renames the shards and writes rejects.jsonl and the manifest last.
With `--pack-length` too, the task packs the rows before it writes them, with a `Packer` of its
own over its part's rows in order (reading in the driver: its batch's), and its last result
carries the part's packing counts (`Labelled.packing`), summed here: a packed row never holds
examples of two parts, so the rows can differ from the local engine's, which packs the whole
stream; they depend only on the inputs and options (the parts are planned from them).

The pass over the inputs that some kinds need first (`RayEngine.scan`: word data's label set)
runs as tasks too, one per file, each `kinds.base.scan_here` on its file; the driver unites their
sets. Both passes run on the one Ray session `start` opens.

Ray is an optional extra (``pip install "sftmask[ray]"``); it is imported only when this engine runs.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sftmask.arrays import scalar
from sftmask.config.common import CommonOptions
from sftmask.engines import ray_cluster
from sftmask.errors import ConfigError, InputDataError, OutputError, SftmaskError
from sftmask.io import remote
from sftmask.io.readers import STDIN, InputFile, ReadBatch, RecordReader
from sftmask.io.readers.parts import MAX_PART_BYTES, FilePart, plan_parts
from sftmask.io.writer import part_name, write_part
from sftmask.kinds.base import Collect, scan_here
from sftmask.labels.batch import Job, Labelled, label_read_batch
from sftmask.packing.packer import Packer

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "sftmask[ray]"'
BATCHES_AHEAD_PER_WORKER = 4
"""Batches sent and not yet back, per labelling slot (reading in the driver): enough to keep every
slot busy, few enough that the reading does not run far ahead, holding the input in the object
store and taking the CPU from the workers' start-up and labelling."""
PARTS_AHEAD_PER_WORKER = 2
"""Parts sent and not yet back, per labelling slot (reading on the workers): one running, one
waiting to start as soon as a slot frees; each holds about `PART_BATCHES` batches."""
TASK_RETRIES = 3
"""Times Ray runs a task again whose worker process or node died (not on an error it raised:
bad input comes back as a result)."""


@contextlib.contextmanager
def start(config: CommonOptions) -> Iterator[RayEngine]:
    """The Ray engine for one build: joins `config.ray_address` (``auto``: the running cluster) or
    starts a local Ray with this machine's CPUs, stopped at the end; a Ray already initialised in
    this process is used as it is.

    Raises:
        ConfigError: Ray is not installed, or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--engine ray needs Ray; install it with: {INSTALL_HINT}") from None
    began = time.perf_counter()
    started = ray_cluster.connect(ray, config.ray_address)
    log.debug("ray: %s in %.1f s", "started" if started else "already running", time.perf_counter() - began)
    try:
        yield RayEngine(ray)
    finally:
        if started:
            ray.shutdown()


@dataclass(frozen=True)
class _PartDone:
    """A part task's result: its index among the parts, its batches' results in order (a reader's
    error last, if any), and the lines it read (JSON lines: where the file's next part starts)."""

    index: int
    results: list[Labelled | SftmaskError]
    lines: int
    warnings: list[_Warning]
    """What sftmask logged at WARNING or above while the task read and labelled the part."""


@dataclass(frozen=True)
class _Warning:
    """A warning logged in a part task, for the driver to log in its place (`_log_held`): the
    logger, level, message and arguments (as text), the part's line or row it names (the record's
    `input_position`, first argument its place ``name:line``), and what makes it one of a kind
    for the whole build (the record's `once`: a reader warns once per part)."""

    logger: str
    level: int
    msg: str
    args: tuple[str | int | float, ...]
    position: int | None
    once: str | None


class _Holder(logging.Handler):
    """Keeps the warnings of sftmask's loggers in a task (which has no console of its own)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.held: list[_Warning] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.held.append(
            _Warning(
                record.name,
                record.levelno,
                str(record.msg),
                tuple(a if isinstance(a, int | float) else str(a) for a in args),  # picklable
                getattr(record, "input_position", None),
                getattr(record, "once", None),
            )
        )


@contextlib.contextmanager
def _held_warnings() -> Iterator[list[_Warning]]:
    """The warnings sftmask's loggers log in this block (and not to this process's stderr)."""
    holder = _Holder()
    package = logging.getLogger("sftmask")
    package.addHandler(holder)
    try:
        yield holder.held
    finally:
        package.removeHandler(holder)


def _log_held(warnings: list[_Warning], inp: InputFile, lines_before: int, shown: set[str]) -> None:
    """Log a part's warnings here, as the local engine would: the line a warning names made the
    file's (`lines_before`: those of the file's earlier parts), and a warning of a kind already
    shown for an earlier part left out."""
    for warning in warnings:
        args = warning.args
        if warning.position is not None and args:
            args = (inp.where(warning.position + lines_before), *args[1:])
        key = warning.once or (warning.msg % args if args else warning.msg)
        if key not in shown:
            shown.add(key)
            logging.getLogger(warning.logger).log(warning.level, warning.msg, *args)


class RayEngine:
    """Both passes of a build on one Ray session."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray

    def scan(self, reader: RecordReader, collect: Collect) -> set[Any]:
        """The pass over the inputs as Ray tasks, one per file, each `scan_here` on its file
        (`RecordReader.for_file`); their sets united here. A file's error is raised in file
        order, as the local pass would meet it.

        Raises:
            SftmaskError: the reader's error (a file that cannot be read), re-raised here.
        """
        ray = self.ray
        cpus = min(1.0, max(ray_cluster.node_cpus(ray), default=1.0))
        task = ray.remote(num_cpus=cpus, max_retries=TASK_RETRIES)(_scan_file)
        cwd = os.getcwd()
        log.info("ray: label-set pass over %d file(s) in tasks", len(reader.files))
        values: set[Any] = set()
        with _ray_errors(ray), _cancelled_on_exit(ray) as pending:
            pending += [task.remote(reader.for_file(index), collect, cwd) for index in range(len(reader.files))]
            while pending:
                found = ray.get(pending.popleft())  # taken out: only tasks not waited for are cancelled
                if isinstance(found, BaseException):
                    raise found
                values |= found
        return values

    def run(self, reader: RecordReader, job: Job) -> Iterator[Labelled]:
        """Label the reader's batches in Ray tasks (same rows, same order as the local engine).

        Raises:
            ConfigError: the files cannot be read on the workers (stdin).
            SftmaskError: whatever the reader or `label_read_batch` (on a worker) raises, re-raised here.
        """
        ray = self.ray
        parts = None if job.config.ray_read == "driver" else plan_parts(reader.files, reader.batch_size)
        sees = functools.partial(ray_cluster.every_node_sees, ray)
        on_workers = reads_on_workers(reader, job, sees, parts)
        workers, cpus_per_worker = ray_cluster.pool_size(ray_cluster.node_cpus(ray), job)
        log.info(
            "ray: %d labelling task(s) at a time, of %g CPU(s) each; reading %s",
            workers,
            cpus_per_worker,
            f"{len(reader.files)} file(s) in {len(parts or ())} part(s) in tasks" if on_workers else "in the driver",
        )
        log.debug("ray: this process is attached to node %s", ray.get_runtime_context().get_node_id())
        options = {"num_cpus": cpus_per_worker, "max_retries": TASK_RETRIES}
        threads = max(1, int(cpus_per_worker))
        with _ray_errors(ray):
            job_ref = ray.put(job)  # once in the object store, held here for the whole run (tasks run again read it)
            if on_workers:
                assert parts is not None
                task = ray.remote(**options)(_label_part)
                window = PARTS_AHEAD_PER_WORKER * workers
                yield from _from_parts(
                    ray, reader, parts, functools.partial(task.remote, job_refs=[job_ref], threads=threads), window
                )
            else:
                task = ray.remote(**options)(_label_batch)
                window = BATCHES_AHEAD_PER_WORKER * workers
                yield from _from_batches(
                    ray, iter(reader), functools.partial(task.remote, job_refs=[job_ref], threads=threads), window
                )


def reads_on_workers(
    reader: RecordReader,
    job: Job,
    every_node_sees: Callable[[list[str]], bool] | None = None,
    parts: list[FilePart] | None = None,
) -> bool:
    """Whether the files are read in Ray tasks (`--ray-read`; see `CommonOptions.ray_read`).

    ``auto`` reads on the workers when there are several `parts` (by default one a file: see
    `readers.parts.plan_parts`), no kept columns, and every node reaches every file: remote URLs,
    or local paths that `every_node_sees` (the same size on each node of the cluster: a shared
    filesystem). Not when the rows come back to the driver (`--ray-write driver`) and a file that
    could not be cut is larger than `MAX_PART_BYTES`: a part's results come back at once.

    Raises:
        ConfigError: ``workers`` with stdin among the inputs.
    """
    choice = job.config.ray_read
    names = [f.name for f in reader.files]
    if choice == "workers" and STDIN in names:
        raise ConfigError(
            "--ray-read workers cannot read stdin ('-'), which only this process has; use --ray-read driver"
        )
    if choice == "auto":
        parts = parts if parts is not None else [FilePart(index) for index in range(len(names))]
        if len(parts) < 2 or reader.keep_fields or STDIN in names:
            return False
        if job.config.ray_write == "driver" and any(
            part.whole and (reader.files[part.file].size or 0) > MAX_PART_BYTES for part in parts
        ):
            log.info("ray: reading in the driver: a file too big for one task's results and not cut into parts")
            return False
        local = [path for f in reader.files if not remote.is_remote(f.name) for path in (f.parts or (f.name,))]
        return not local or (every_node_sees is not None and every_node_sees(local))
    return choice == "workers"


def _from_batches(
    ray: Any, batches: Iterator[ReadBatch], send: Callable[[ReadBatch, int], Any], window: int
) -> Iterator[Labelled]:
    """Reading in the driver: each batch sent (`send(batch, seq)`, a `_label_batch` task) as soon
    as fewer than `window` are out, the results taken in order; a reader's error raised after the
    results of the batches before it."""
    began = time.perf_counter()
    error: SftmaskError | None = None
    sent = 0
    with _cancelled_on_exit(ray) as pending:
        while True:
            while error is None and len(pending) < window:
                try:
                    batch = next(batches, None)
                except SftmaskError as exc:  # bad input: raised when the batches before it are in
                    error = exc
                    break
                if batch is None:
                    break
                pending.append(send(batch, sent))
                sent += 1
            if not pending:
                break
            seq, result = ray.get(pending.popleft())
            due = sent - len(pending) - 1
            if seq != due:
                raise RuntimeError(f"ray engine: batch {seq} arrived where batch {due} was due")
            if seq == 0:
                log.debug(
                    "ray: first batch labelled and back %.1f s after the job started", time.perf_counter() - began
                )
            if isinstance(result, BaseException):
                raise result
            _log_shards(result)
            yield result
    if error is not None:
        raise error


def _from_parts(
    ray: Any, reader: RecordReader, parts: list[FilePart], send: Callable[..., Any], window: int
) -> Iterator[Labelled]:
    """Reading on the workers: a `_label_part` task per part (`send(reader, index, offset, cwd)`),
    at most `window` out, the results taken in order, the lines of a JSON lines file's parts made
    the file's (`_shifted`)."""
    cwd = os.getcwd()  # relative input names are the driver's
    offsets = [0]
    for f in reader.files:
        offsets.append(offsets[-1] + (f.size or 0))
    began = time.perf_counter()
    lines_before = 0  # lines of the current file's parts so far
    shown: set[str] = set()  # warnings logged: each kind once, as a local build's reader does
    with _cancelled_on_exit(ray) as pending:
        sent = 0
        for due, part in enumerate(parts):
            while sent < len(parts) and len(pending) < window:
                ahead = parts[sent]
                pending.append(send(reader.for_part(ahead), sent, offsets[ahead.file], cwd))
                sent += 1
            done: _PartDone = ray.get(pending.popleft())
            if done.index != due:
                raise RuntimeError(f"ray engine: part {done.index} arrived where part {due} was due")
            if due == 0:
                log.debug("ray: first part labelled and back %.1f s after the job started", time.perf_counter() - began)
            if due and parts[due - 1].file != part.file:
                lines_before = 0
            _log_held(done.warnings, reader.files[part.file], lines_before, shown)
            for result in done.results:
                if lines_before:
                    result = _shifted(result, reader.files[part.file], lines_before)
                if isinstance(result, BaseException):
                    raise result
                _log_shards(result)
                yield result
            lines_before += done.lines


def _shifted(result: Labelled | SftmaskError, inp: InputFile, lines: int) -> Labelled | SftmaskError:
    """A JSON lines part's result with `lines` (those of the file's earlier parts) added to each
    line it names: its rejects', its longest row's, its error's."""
    if isinstance(result, InputDataError) and result.line is not None and result.file == inp.name:
        shifted = InputDataError(result.detail, file=result.file, line=result.line + lines)
        shifted.__cause__ = result.__cause__
        return shifted
    if isinstance(result, SftmaskError):
        return result
    rejects = result.rejects
    if rejects.num_rows:  # a part's rejects are all of its file, all lines
        column = rejects.schema.get_field_index("line")
        rejects = rejects.set_column(column, "line", pc.add(rejects.column("line"), scalar(lines, pa.int64())))
    counts = result.counts
    if counts.longest_row_at:  # `InputFile.where`: "name:line"
        counts.longest_row_at = inp.where(int(counts.longest_row_at.removeprefix(inp.name + ":")) + lines)
    return replace(result, rejects=rejects, counts=counts)


def _log_shards(result: Labelled) -> None:
    for shard in result.shards:
        log.debug(
            "ray: shard %s (%d rows) written on node %s by pid %s",
            shard["partial"],
            shard["rows"],
            shard["node"],
            shard["pid"],
        )


@contextlib.contextmanager
def _cancelled_on_exit(ray: Any) -> Iterator[collections.deque[Any]]:
    """A queue of task references; those still in it when the block ends (an error, an interrupt,
    a consumer that stopped) and not finished are cancelled: a failed build leaves no work running
    on the cluster. (Cancelling a finished task whose reply the driver had not yet processed
    aborted the driver in Ray 2.60: "Tried to complete task that was not pending", task_manager.cc;
    so a ref is taken out of the queue before it is waited for, and finished ones are left alone.)"""
    pending: collections.deque[Any] = collections.deque()
    try:
        yield pending
    finally:
        running = list(pending)
        if running:
            with contextlib.suppress(Exception):
                _, running = ray.wait(running, num_returns=len(running), timeout=0, fetch_local=False)
        for ref in running:
            with contextlib.suppress(Exception):
                ray.cancel(ref)


@contextlib.contextmanager
def _ray_errors(ray: Any) -> Iterator[None]:
    """A failed Ray job (e.g. the cluster lost every node) as one line, not Ray's page."""
    try:
        yield
    except ray.exceptions.RayError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SftmaskError(f"the Ray job failed ({type(exc).__name__}): {first_line}") from exc


def _scan_file(reader: RecordReader, collect: Collect, cwd: str) -> set[Any] | SftmaskError:
    """A task of `RayEngine.scan`: `scan_here` on one file (or the reader's error)."""
    with contextlib.chdir(cwd):
        try:
            return scan_here(reader, collect)
        except SftmaskError as exc:  # raised by the driver in file order
            return exc


_cached: tuple[bytes, Job, str] | None = None
"""This worker process's job (its object reference, the job unpickled, the node): a task of the same
build reuses it, so each Ray worker process unpickles the tokenizer once per build."""


def _job_here(job_ref: Any, threads: int) -> tuple[Job, str]:
    """The build's job in this worker process, fetched from the object store once."""
    global _cached
    import ray

    key = job_ref.binary()  # each task gets its own copy of the reference: compared by object id
    if _cached is None or _cached[0] != key:
        # Before the tokenizer first runs in this process: its Rust thread pool takes the size from here.
        os.environ["RAYON_NUM_THREADS"] = str(threads)
        _cached = (key, ray.get(job_ref), ray.get_runtime_context().get_node_id())
        log.debug("job ready in pid %d", os.getpid())
    return _cached[1], _cached[2]


def _label_batch(batch: ReadBatch, seq: int, job_refs: list[Any], threads: int) -> tuple[int, Labelled | SftmaskError]:
    """A labelling task (reading in the driver): `label_read_batch` on batch `seq`, its rows written
    as a shard with `--ray-write workers` (with `--pack-length`, packed first: the batch alone);
    bad input comes back as the result.

    (The job's reference is passed in a list, so that Ray hands the task the reference, not the
    job: `_job_here` unpickles it once per worker process.) Tasks, not actors: a task lost with
    its node is run again on another node, where a fixed pool of actors waited forever to restart
    an actor that no longer fits the cluster."""
    job, node = _job_here(job_refs[0], threads)
    try:
        return seq, _label(batch, job, node, 0, seq, _packer(job), alone=True)
    except SftmaskError as exc:  # bad input: the driver re-raises it as it is
        return seq, exc


def _label_part(
    reader: RecordReader, index: int, offset: int, cwd: str, job_refs: list[Any], threads: int
) -> _PartDone:
    """A part task (reading on the workers): read part `index` (`reader`, a `RecordReader.for_part`)
    and label its batches as `_label_batch` does; the first error (the reader's, or bad input)
    ends the results. With `--pack-length` and `--ray-write workers` one `Packer` takes the part's
    rows in order: each batch's shard holds the packed rows its windows completed, the last
    batch's also the part's last, smaller window, and the last result carries the part's packing
    counts (`_write_last`); so the part's packed rows depend only on its rows."""
    job, node = _job_here(job_refs[0], threads)
    packer = _packer(job)
    results: list[Labelled | SftmaskError] = []
    with contextlib.chdir(cwd), _held_warnings() as warnings:
        try:
            for seq, batch in enumerate(reader):
                batch.bytes_read += offset  # progress over all files, as the driver's reader counts it
                results.append(_label(batch, job, node, index, seq, packer))
            if packer is not None and results:
                last = results[-1]
                assert isinstance(last, Labelled)
                results[-1] = _write_last(last, packer, job, node, index, len(results))
        except SftmaskError as exc:  # bad input: raised by the driver when its turn comes
            results.append(exc)
    return _PartDone(index, results, reader.part_lines, warnings)


def _packer(job: Job) -> Packer | None:
    """A packing stage for a task's rows, when the task writes them (`--ray-write workers`) packed."""
    config = job.config
    if job.shard_dir is None or config.pack_length is None:
        return None
    return Packer(config.pack_length, config.pack_strategy, config.pack_window, list(config.keep_columns))


def _label(
    batch: ReadBatch, job: Job, node: str, part: int, seq: int, packer: Packer | None, *, alone: bool = False
) -> Labelled:
    """Label a batch; with `--ray-write workers` write its rows (with `packer`: the packed rows
    they complete; `alone`, the task's only batch: all of them, with the packing counts) as one
    shard."""
    labelled = label_read_batch(batch, job)
    if job.shard_dir is None:
        return labelled
    rows = labelled.rows
    if packer is not None:
        packed = [packer.push(rows), *([packer.finish()] if alone else [])]
        rows = pa.concat_tables([t for t in packed if t.num_rows] or packed[:1])
    labelled = replace(labelled, rows=labelled.rows.slice(0, 0), shards=_write_shard(rows, job, node, part, seq))
    return replace(labelled, packing=packer.counts) if alone and packer is not None else labelled


def _write_last(labelled: Labelled, packer: Packer, job: Job, node: str, part: int, seq: int) -> Labelled:
    """The last result of a task that packs, with the shard of the packer's last rows (`finish`,
    as shard `seq`) and the task's packing counts."""
    last = _write_shard(packer.finish(), job, node, part, seq)
    return replace(labelled, shards=labelled.shards + last, packing=packer.counts)


def _write_shard(rows: pa.Table, job: Job, node: str, part: int, seq: int) -> tuple[dict[str, Any], ...]:
    """Write `rows` (a batch's, or the packed rows it completed) as shard `seq` of `part` in the
    output's temporary folder (`--ray-write workers`); what goes back to the driver is its name,
    rows and hash, not the rows (none for no rows). A task run again writes the same name over
    the first run's file."""
    if not rows.num_rows:
        return ()
    assert job.shard_dir is not None
    name = part_name(job.config.split, part, seq)
    try:
        written = write_part(rows, Path(job.shard_dir) / name, job.config.format)
    except OSError as exc:
        raise OutputError(
            f"cannot write the output {job.config.output} on Ray node {node}: {exc.strerror or exc}; "
            "nothing was written (with --ray-write workers every node must reach --output: a shared filesystem)"
        ) from exc
    return ({"partial": name, **written, "node": node, "pid": os.getpid()},)
