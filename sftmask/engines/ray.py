"""The Ray engine: `label_read_batch` over a build's batches on Ray Data, rows in input order.

The inputs are read either in the driver or on the workers (`--ray-read`):

- driver: sftmask's reader runs in this process (every record keeps its file and line, kept
  columns keep one type over all files). Its batches go through a bounded Ray queue into a
  single Ray Data read task (on this process's node, with the queue); the reader stays at most
  `QUEUE_DEPTH` + `AHEAD_PER_ACTOR` per labelling task batches ahead of the results that came back.
- workers: one Ray Data read task per input file runs `RecordReader.for_file` on that file,
  wherever Ray places it (the files must be reachable from every node: `s3://` URLs or a shared
  filesystem); a reader error travels as a result, in its place in the input order.

Either way the batches go to `map_batches` as Ray tasks (`_label_block`, as many at a time as the
nodes hold: `ray_cluster.pool_size`): each Ray worker process fetches the build's `Job` (tokenizer
included) from the object store once (it is put there once) and labels batches with the same
`label_read_batch` as the local engine. Tasks rather than a fixed pool of actors: a task lost
with its worker or its node runs again elsewhere. `preserve_order` returns the results in input
order; each carries its file and batch number, checked on arrival, so a lost or repeated batch is
an error, never a silently different output.

With `--ray-write workers` the task also writes the batch's rows as a shard into the output's
temporary folder (`io.writer.write_part`, named by file and batch so that name order is input
order) and returns only counts, rejects and the shard's name, rows, hash and node: the rows never
reach this process, which renames the shards and writes rejects.jsonl and the manifest last.

The pass over the inputs that some kinds need first (`RayEngine.scan`: word data's label set)
runs as Ray Data read tasks too, one per file, each `kinds.base.scan_here` on its file; the
driver unites their sets. Both passes run on the one Ray session `start` opens.

Ray is an optional extra (``pip install "sftmask[ray]"``); it is imported only when this engine runs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from sftmask.config.common import CommonOptions
from sftmask.engines import ray_cluster
from sftmask.errors import ConfigError, OutputError, SftmaskError
from sftmask.io import remote
from sftmask.io.readers import STDIN, ReadBatch, RecordReader
from sftmask.io.writer import part_name, write_part
from sftmask.kinds.base import Collect, scan_here
from sftmask.labels.batch import Job, Labelled, label_read_batch

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "sftmask[ray]"'
QUEUE_DEPTH = 4
"""Batches waiting in the Ray queue ahead of the read task."""
AHEAD_PER_ACTOR = 4
"""Batches read ahead of the results, per labelling task slot, besides the queue's (reading in the
driver): enough to keep every slot busy, few enough that the reading does not run far ahead,
holding the whole input in the object store and taking the CPU from the workers' start-up and
labelling."""
_FILE = "file"
_SEQ = "seq"
_PAYLOAD = "payload"


class _EndOfFile:
    """The payload after a file's last batch (read tasks)."""


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
        import ray.data
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


class RayEngine:
    """Both passes of a build on one Ray session."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray

    def scan(self, reader: RecordReader, collect: Collect) -> set[Any]:
        """The pass over the inputs as Ray Data read tasks, one per file, each `scan_here` on its
        file (`RecordReader.for_file`); their sets united here. A file's error is raised in file
        order, as the local pass would meet it.

        Raises:
            SftmaskError: the reader's error (a file that cannot be read), re-raised here.
        """
        ray = self.ray
        values: set[Any] = set()
        with _data_context(ray), _ray_errors(ray):
            source = ray.data.read_datasource(
                _files_datasource(reader, functools.partial(_scan_file, collect)),
                override_num_blocks=len(reader.files),
                concurrency=max(1, min(len(reader.files), int(ray.cluster_resources().get("CPU", 1.0)))),
            )
            log.info("ray: label-set pass over %d file(s) in read tasks", len(reader.files))
            for block in source.iter_batches(batch_size=None, batch_format="pyarrow"):
                for payload in block.column(_PAYLOAD).to_pylist():
                    found = pickle.loads(payload)
                    if isinstance(found, BaseException):
                        raise found
                    values |= found
        return values

    def run(self, reader: RecordReader, job: Job) -> Iterator[Labelled]:
        """Label the reader's batches on Ray Data (same rows, same order as the local engine).

        Raises:
            ConfigError: the files cannot be read on the workers (stdin).
            SftmaskError: whatever the reader or `label_read_batch` (on a worker) raises, re-raised here.
        """
        ray = self.ray
        from ray.util.queue import Queue

        on_workers = reads_on_workers(reader, job, functools.partial(ray_cluster.every_node_sees, ray))
        workers, cpus_per_worker = ray_cluster.pool_size(ray_cluster.node_cpus(ray), job)
        log.info(
            "ray: %d labelling task(s) at a time, of %g CPU(s) each; reading %s",
            workers,
            cpus_per_worker,
            f"{len(reader.files)} files in read tasks" if on_workers else "in the driver",
        )
        log.debug("ray: this process is attached to node %s", ray.get_runtime_context().get_node_id())
        feeder: _Feeder | None = None
        queue: Any = None
        with _data_context(ray), _ray_errors(ray):
            # Read tasks reserve no CPU: the labelling tasks may take every CPU of a small
            # cluster without starving the tasks that feed them (Ray Data's known hang on a
            # 2-CPU instance when read tasks need a whole CPU each).
            if on_workers:
                source = ray.data.read_datasource(
                    _files_datasource(reader, _read_file),
                    override_num_blocks=len(reader.files),
                    num_cpus=0,
                    concurrency=max(1, workers),  # files read at once: memory stays bounded
                )
            else:
                # The queue and the task draining it live on this process's node: they are lost
                # only with it (a re-run read task would miss the batches the first run took).
                here = ray_cluster.on_this_node(ray)
                queue = Queue(maxsize=QUEUE_DEPTH, actor_options={"num_cpus": 0, "scheduling_strategy": here})
                feeder = _Feeder(iter(reader), queue, ahead=QUEUE_DEPTH + AHEAD_PER_ACTOR * workers)
                source = ray.data.read_datasource(
                    _queue_datasource(queue),
                    override_num_blocks=1,
                    num_cpus=0,
                    max_retries=0,
                    scheduling_strategy=here,
                )
            job_ref = ray.put(job)  # once in the object store, held here for the whole run (tasks run again read it)
            dataset = source.map_batches(
                _label_block,
                fn_args=([job_ref], max(1, int(cpus_per_worker))),
                batch_size=None,
                batch_format="pyarrow",
                compute=ray.data.TaskPoolStrategy(size=workers),
                num_cpus=cpus_per_worker,
            )
            if feeder is not None:
                feeder.start()
            try:
                yield from _results(dataset, feeder, len(reader.files) if on_workers else None)
            finally:
                if feeder is not None:
                    feeder.stop()
                    queue.shutdown(force=True)


def reads_on_workers(
    reader: RecordReader, job: Job, every_node_sees: Callable[[list[str]], bool] | None = None
) -> bool:
    """Whether the files are read in Ray read tasks (`--ray-read`; see `CommonOptions.ray_read`).

    ``auto`` reads on the workers when there are several files, no kept columns, and every node
    reaches every file: remote URLs, or local paths that `every_node_sees` (the same size on each
    node of the cluster: a shared filesystem).

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
        if len(names) < 2 or reader.keep_fields or STDIN in names:
            return False
        local = [path for f in reader.files if not remote.is_remote(f.name) for path in (f.parts or (f.name,))]
        return not local or (every_node_sees is not None and every_node_sees(local))
    return choice == "workers"


def _results(dataset: Any, feeder: _Feeder | None, files: int | None) -> Iterator[Labelled]:
    """The labelled batches in order, each checked to be the next one due; then the reader's error.

    Blocks carry (file, batch number): from the queue, file 0 throughout; from read tasks, each
    file's batches and then its end marker (`files` of them in all).
    """
    due_file, due_batch = 0, 0
    began = time.perf_counter()
    for block in dataset.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=2):
        columns = (block.column(name).to_pylist() for name in (_FILE, _SEQ, _PAYLOAD))
        for file, seq, payload in zip(*columns, strict=True):
            if (file, seq) != (due_file, due_batch):
                raise RuntimeError(
                    f"ray engine: batch {seq} of file {file} arrived where batch {due_batch} of file {due_file} was due"
                )
            result = pickle.loads(payload)
            if (due_file, due_batch) == (0, 0):
                log.debug(
                    "ray: first batch labelled and back %.1f s after the job started", time.perf_counter() - began
                )
            if feeder is not None:
                feeder.returned()
            if isinstance(result, _EndOfFile):
                due_file, due_batch = due_file + 1, 0
                continue
            due_batch += 1
            if isinstance(result, BaseException):
                raise result
            for shard in result.shards:
                log.debug(
                    "ray: shard %s (%d rows) written on node %s by pid %s",
                    shard["partial"],
                    shard["rows"],
                    shard["node"],
                    shard["pid"],
                )
            yield result
    if feeder is not None:
        feeder.join()
        if feeder.error is not None:
            raise feeder.error
        if due_batch != feeder.sent:
            raise RuntimeError(f"ray engine: {feeder.sent} batches sent, {due_batch} labelled")
    elif due_file != files:
        raise RuntimeError(f"ray engine: {files} files read, {due_file} finished")


@contextlib.contextmanager
def _data_context(ray: Any) -> Iterator[None]:
    """Ray Data settings for this build, restored afterwards (the context is process-wide)."""
    context = ray.data.DataContext.get_current()
    settings = {
        "preserve_order": True,
        # One block per reader batch: Ray Data would otherwise merge the read task's blocks
        # up to 128 MiB before passing any on, and labelling would wait for the reading.
        "target_max_block_size": 1,
        "enable_progress_bars": sys.stderr.isatty(),  # Ray's bars on a terminal, nothing in pipes
        "print_on_execution_start": False,
    }
    before = {name: getattr(context, name) for name in settings if name != "preserve_order"}
    before_order = context.execution_options.preserve_order
    for name, value in settings.items():
        if name == "preserve_order":
            context.execution_options.preserve_order = value
        else:
            setattr(context, name, value)
    # Ray Data logs each run's start and end at INFO on stderr; sftmask's own messages (and
    # Ray's warnings) are what belongs there, unless sftmask logs at DEBUG.
    # Its one note that progress bars are off (as asked: not a terminal) is no warning either.
    quieter = {"ray.data": logging.WARNING, "ray.data._internal.progress": logging.ERROR}
    levels_before = {name: logging.getLogger(name).level for name in quieter}
    if not log.isEnabledFor(logging.DEBUG):
        for name, level in quieter.items():
            logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        context.execution_options.preserve_order = before_order
        for name, value in before.items():
            setattr(context, name, value)
        for name, level in levels_before.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _ray_errors(ray: Any) -> Iterator[None]:
    """A failed Ray job (e.g. the cluster lost every node) as one line, not Ray's page."""
    try:
        yield
    except ray.exceptions.RayError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SftmaskError(f"the Ray job failed ({type(exc).__name__}): {first_line}") from exc


class _Feeder(threading.Thread):
    """Puts the reader's batches, pickled and numbered, on the Ray queue; then one `None`.

    At most `ahead` batches are out (read, not yet labelled and back): the driver calls `returned`
    for each result, and the reader waits before reading more.
    """

    def __init__(self, batches: Iterator[ReadBatch], queue: Any, ahead: int) -> None:
        super().__init__(name="sftmask-ray-feeder", daemon=True)
        self.batches = batches
        self.queue = queue
        self.sent = 0
        self.error: BaseException | None = None
        self._stop_event = threading.Event()
        self._slots = threading.Semaphore(ahead)

    def run(self) -> None:
        try:
            while self._wait_for_slot():
                batch = next(self.batches, None)
                if batch is None:
                    break
                self._put((self.sent, pickle.dumps(batch, protocol=5)))
                self.sent += 1
        except BaseException as exc:  # a reader error: re-raised by the driver after the batches before it
            self.error = exc
        self._put(None)

    def returned(self) -> None:
        """One batch is labelled and back in the driver: another may be read."""
        self._slots.release()

    def _wait_for_slot(self) -> bool:
        while not self._stop_event.is_set():
            if self._slots.acquire(timeout=0.2):
                return True
        return False

    def _put(self, item: tuple[int, bytes] | None) -> None:
        from ray.util.queue import Full

        while not self._stop_event.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except Full:
                continue

    def stop(self) -> None:
        self._stop_event.set()


def _queue_datasource(queue: Any) -> Any:
    """A Ray Data source with one read task that yields the queue's batches as one-row blocks
    (defined here because Ray is imported only when the engine runs)."""
    from ray.data import DataContext
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class SftmaskReaderDatasource(Datasource):
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call, unused-ignore]  # typed only with ray installed

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: DataContext | None = None
        ) -> list[ReadTask]:
            metadata = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
            return [ReadTask(lambda: _drain(queue), metadata)]

    return SftmaskReaderDatasource()


def _drain(queue: Any) -> Iterator[pa.Table]:
    while (item := queue.get()) is not None:
        seq, payload = item
        yield _block(0, seq, payload)


def _files_datasource(reader: RecordReader, read: Callable[[bytes, int, int, str], Iterator[pa.Table]]) -> Any:
    """A Ray Data source with one read task per input file: `read` (`_read_file`, `_scan_file`)
    on the pickled `RecordReader.for_file`, the file's index, its byte offset among the inputs
    and the driver's working directory."""
    from ray.data import DataContext
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    cwd = os.getcwd()  # relative input names are the driver's
    offsets = [0]
    for f in reader.files:
        offsets.append(offsets[-1] + (f.size or 0))

    class SftmaskFilesDatasource(Datasource):
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call, unused-ignore]  # typed only with ray installed

        def estimate_inmemory_data_size(self) -> int | None:
            return reader.total_bytes

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: DataContext | None = None
        ) -> list[ReadTask]:
            tasks = []
            for index, f in enumerate(reader.files):
                part = pickle.dumps(reader.for_file(index), protocol=5)
                metadata = BlockMetadata(num_rows=None, size_bytes=f.size, input_files=None, exec_stats=None)
                tasks.append(ReadTask(functools.partial(read, part, index, offsets[index], cwd), metadata))
            return tasks

    return SftmaskFilesDatasource()


def _read_file(part: bytes, index: int, offset: int, cwd: str) -> Iterator[pa.Table]:
    """A read task: one file's batches as one-row blocks, a reader error in its place, then the end."""
    reader: RecordReader = pickle.loads(part)
    seq = 0
    with contextlib.chdir(cwd):
        try:
            for batch in reader:
                batch.bytes_read += offset  # progress over all files, as the driver's reader counts it
                yield _block(index, seq, pickle.dumps(batch, protocol=5))
                seq += 1
        except SftmaskError as exc:  # bad input: raised by the driver when its turn comes
            yield _block(index, seq, pickle.dumps(exc, protocol=5))
            seq += 1
    yield _block(index, seq, pickle.dumps(_EndOfFile(), protocol=5))


def _scan_file(collect: Collect, part: bytes, index: int, offset: int, cwd: str) -> Iterator[pa.Table]:
    """A read task of `RayEngine.scan`: `scan_here` on one file, as one block (or the reader's error)."""
    reader: RecordReader = pickle.loads(part)
    found: set[Any] | SftmaskError
    with contextlib.chdir(cwd):
        try:
            found = scan_here(reader, collect)
        except SftmaskError as exc:  # raised by the driver in file order
            found = exc
    yield _block(index, 0, pickle.dumps(found, protocol=5))


def _block(file: int, seq: int, payload: bytes) -> pa.Table:
    return pa.table(
        {
            _FILE: pa.array([file], pa.int32()),
            _SEQ: pa.array([seq], pa.int64()),
            _PAYLOAD: pa.array([payload], pa.large_binary()),
        }
    )


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


def _label_block(block: pa.Table, job_refs: list[Any], threads: int) -> pa.Table:
    """A Ray Data labelling task: `label_read_batch` on each batch of the block (one, normally),
    writing its rows as a shard with `--ray-write workers`; errors and file ends passed on.

    Tasks, not actors: a task lost with its node is run again on another node, where a fixed
    pool of actors waited forever to restart an actor that no longer fits the cluster."""
    job, node = _job_here(job_refs[0], threads)
    payloads = []
    where = zip(block.column(_FILE).to_pylist(), block.column(_SEQ).to_pylist(), strict=True)
    for payload, (file, seq) in zip(block.column(_PAYLOAD).to_pylist(), where, strict=True):
        item = pickle.loads(payload)
        if not isinstance(item, ReadBatch):  # a reader's error or a file's end: passed on as it is
            payloads.append(payload)
            continue
        result: Labelled | SftmaskError
        try:
            result = label_read_batch(item, job)
            if job.shard_dir is not None:
                result = _write_shard(result, job, node, file, seq)
        except SftmaskError as exc:  # bad input: the driver re-raises it as it is
            result = exc
        payloads.append(pickle.dumps(result, protocol=5))
    return pa.table(
        {_FILE: block.column(_FILE), _SEQ: block.column(_SEQ), _PAYLOAD: pa.array(payloads, pa.large_binary())}
    )


def _write_shard(labelled: Labelled, job: Job, node: str, file: int, seq: int) -> Labelled:
    """Write the batch's rows as its own shard in the output's temporary folder (`--ray-write
    workers`); what goes back to the driver is its name, rows and hash, not the rows. A task run
    again writes the same name over the first run's file."""
    if not labelled.rows.num_rows:
        return labelled
    assert job.shard_dir is not None
    name = part_name(job.config.split, file, seq)
    try:
        written = write_part(labelled.rows, Path(job.shard_dir) / name, job.config.format)
    except OSError as exc:
        raise OutputError(
            f"cannot write the output {job.config.output} on Ray node {node}: {exc.strerror or exc}; "
            "nothing was written (with --ray-write workers every node must reach --output: a shared filesystem)"
        ) from exc
    shard = {"partial": name, **written, "node": node, "pid": os.getpid()}
    return replace(labelled, rows=labelled.rows.slice(0, 0), shards=(shard,))
