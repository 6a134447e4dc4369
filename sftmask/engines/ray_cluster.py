"""The Ray session of a build: joining a cluster (or starting a local Ray) so that signals and
an unreachable address behave as sftmask's do, and what the cluster's nodes hold (CPUs for the
labelling tasks, which input files every node sees)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

from sftmask import limits
from sftmask.errors import ConfigError
from sftmask.labels.batch import Job

log = logging.getLogger("sftmask.engines.ray")  # the engine's logger: one switch for both modules


SEE_SECONDS = 30.0
"""How long the nodes may take to say which input files they see (`--ray-read auto`)."""


def every_node_sees(ray: Any, paths: list[str]) -> bool:
    """Whether each live node of the cluster sees each of `paths` (relative to this process's working
    directory) with the size it has here: one zero-CPU task per node, pinned to it."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    cwd = os.getcwd()
    try:
        here = _sizes(cwd, paths)
    except OSError:
        return False
    probe = ray.remote(num_cpus=0, max_retries=0)(_sizes_or_none)
    nodes = [node["NodeID"] for node in ray.nodes() if node.get("Alive")]
    refs = [
        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False)).remote(cwd, paths)
        for node in nodes
    ]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=SEE_SECONDS)
    if len(ready) < len(refs):
        for ref in refs:
            ray.cancel(ref, force=True)
        return False
    seen = all(sizes == here for sizes in ray.get(refs))
    log.info("ray: %s node(s) %s every input", len(nodes), "see" if seen else "do not all see")
    return seen


def _sizes(cwd: str, paths: list[str]) -> list[int]:
    return [os.path.getsize(os.path.join(cwd, path)) for path in paths]


def _sizes_or_none(cwd: str, paths: list[str]) -> list[int] | None:
    """A probe task: the files' sizes on this node, None when one is missing."""
    try:
        return _sizes(cwd, paths)
    except OSError:
        return None


def connect(ray: Any, address: str | None) -> bool:
    """Initialise Ray unless it already is; True when this call started it (and must stop it).

    `ray.init` installs SIGTERM handlers of its own (``sys.exit``, and a C++ one that prints a stack
    dump): this process's handlers (the CLI's, which end a build with 143 and no output) are kept.

    Raises:
        ConfigError: the cluster at `address` cannot be reached (found in seconds, not Ray's minutes
            of retries).
    """
    if ray.is_initialized():
        return False
    if address is not None:
        check_reachable(address)
    limits.settle()  # Ray's processes inherit this one's limits: no render's address-space cap
    try:
        with _own_signal_handlers(ray), _quiet_start():
            # "local", not None: None would join a cluster that `ray start` left running on this machine.
            ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    except ConnectionError as exc:
        ray.shutdown()
        raise ConfigError(f"cannot reach the Ray cluster at --ray-address {address}: {exc}") from exc
    except BaseException:  # interrupted while starting: stop what started
        ray.shutdown()
        raise
    return True


REACH_SECONDS = 5.0
"""How long a --ray-address may take to accept a connection."""
RAY_CLIENT_PORT = 10001
"""The port of a ``ray://host`` address that names none (Ray Client's)."""


def check_reachable(address: str) -> None:
    """Fail now when `address` (``host:port`` or ``ray://host[:port]``) accepts no connection:
    `ray.init` would retry for minutes, silently.

    Raises:
        ConfigError: naming the option and what the connection attempt said.
    """
    where = address.removeprefix("ray://")
    if where in ("auto", "local"):
        return
    host, _, port_text = where.rpartition(":")
    if not host:  # "ray://host"
        host, port_text = where, str(RAY_CLIENT_PORT) if address.startswith("ray://") else ""
    if not port_text.isdigit():
        raise ConfigError(
            f"--ray-address {address} is not a Ray address; pass host:port (the head's GCS port, 6379 by "
            f"default), ray://host:{RAY_CLIENT_PORT}, or auto"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port_text)), timeout=REACH_SECONDS).close()
    except OSError as exc:
        why = f"no answer within {REACH_SECONDS:g} s" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise ConfigError(
            f"cannot reach the Ray cluster at --ray-address {address}: {why.lower()}; "
            "start it there (ray start --head) or pass the address `ray status` shows"
        ) from None


@contextlib.contextmanager
def _own_signal_handlers(ray: Any) -> Iterator[None]:
    """While Ray starts, its SIGTERM handlers stay uninstalled; afterwards this process's handlers
    are back (also at the C level, where Ray's core installs a stack-dumping one)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    utils: Any = getattr(getattr(ray, "_private", None), "utils", None)
    setter = getattr(utils, "set_sigterm_handler", None)
    if setter is not None:
        utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        if setter is not None:
            utils.set_sigterm_handler = setter
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)


@contextlib.contextmanager
def _quiet_start() -> Iterator[None]:
    """Ray's start-up notes (token authentication on a local cluster) are not sftmask's to print,
    unless sftmask logs at DEBUG."""
    ray_log = logging.getLogger("ray")
    level = ray_log.level
    if not log.isEnabledFor(logging.DEBUG):
        ray_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        ray_log.setLevel(level)


def node_cpus(ray: Any) -> list[float]:
    """The CPUs of each live node of the cluster (a head started with ``--num-cpus 0`` has none)."""
    return [float(node.get("Resources", {}).get("CPU", 0.0)) for node in ray.nodes() if node.get("Alive")]


def pool_size(nodes: list[float], job: Job) -> tuple[int, float]:
    """Labelling tasks at a time and the CPUs each reserves, so that every task fits on a node.

    A task runs on one node, so it is sized from the nodes' CPUs, not the cluster's sum (two
    1-CPU nodes hold no 2-CPU worker: a pool of such actors waited for them forever). By default as many
    as the nodes hold at `ray_cpus_per_worker` each, reserving at most the largest node's CPUs;
    with `ray_workers`, that many, each reserving less if they would not fit.

    Raises:
        ConfigError: no node has a CPU, or `ray_cpus_per_worker` was given larger than every node.
    """
    config = job.config
    largest = max(nodes, default=0.0)
    if largest <= 0:
        raise ConfigError(
            "the Ray cluster has no node with a CPU for the labelling; add a worker node "
            "(ray start --address HEAD --num-cpus N)"
        )
    asked = config.ray_cpus_per_worker
    if "ray_cpus_per_worker" in config.model_fields_set and asked > largest:
        raise ConfigError(
            f"--ray-cpus-per-worker {asked:g} is more than any node of the Ray cluster has (the largest has "
            f"{largest:g} CPUs), so no labelling could start; pass --ray-cpus-per-worker {largest:g} or less"
        )
    per_worker = min(asked, largest)
    if config.ray_workers is None:
        return max(1, capacity(nodes, per_worker)), per_worker
    workers = config.ray_workers
    shares = {per_worker} | {n / k for n in nodes for k in range(1, workers + 1) if 0 < n / k <= per_worker}
    return workers, max(share for share in shares if capacity(nodes, share) >= workers)


def capacity(nodes: list[float], per_worker: float) -> int:
    """How many workers of `per_worker` CPUs the nodes hold (each on one node)."""
    return sum(int(n / per_worker + 1e-9) for n in nodes)
