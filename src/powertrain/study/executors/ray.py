"""The Ray executor: each run a Ray task, placed by its resources on whichever node of a cluster has
them (``--gpus-per-run``, ``--cpus-per-run``), with Ray's GPU isolation giving it its devices.

The coordinator (this process, the only one that writes the store) claims each run before its task is
submitted (``sink.begin``; a run another process holds is left to it), so no run is trained twice. The
run executes on its node with the one run body, ``execute_run``, in a ``RunEnv`` opened there: the
meters are detected on that node and its hardware is recorded with the run. The node keeps the run's
records and sends them back when the run ends; the coordinator begins the run again under its own claim
with the node's hardware (replacing the placeholder it claimed with) and writes the records, so the
store stays the one record of what finished and resuming works as it does locally. A task lost with its
node is a FAILED run with Ray's reason. GPU power limits are refused here: their journal is the store,
which a node cannot reach. The session (``ray_session.py``) has room for as many runs at once as the
cluster has CPUs and GPUs for; a task given a stop asks the coordinator after each evaluation; a
search's paused run is continued by a later task from its checkpoint, in the record the coordinator
claimed for it (no claim again), where the checkpoint is within reach: when every node is this
machine. The node's records are the typed records of ``messages.py``.

Ray is an optional extra (``pip install powertrain[ray]``), imported only here. Never install the
``amdsmi`` package beside it: it breaks ``import ray``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from powertrain.errors import PowertrainError
from powertrain.study.executors.messages import (
    Begun,
    ErrorRecord,
    Failed,
    Finished,
    Point,
    SinkRecord,
    Timeline,
)

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.execute import RunSink
    from powertrain.study.executors.ray_session import RaySession


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        hint = (
            " (the amdsmi package breaks `import ray`: pip uninstall amdsmi)"
            if "amdsmi" in str(exc)
            else " (pip install 'powertrain[ray]')"
        )
        raise PowertrainError(f"the Ray executor needs Ray: {exc}{hint}") from None
    return ray


class RecordingSink:
    """The node's side of the sink: keeps the run's records to send back in one piece."""

    def __init__(self) -> None:
        self.records: list[SinkRecord | Failed] = []

    def begin(self, spec, hardware: dict, provenance: dict) -> int:
        self.records.append(Begun(spec, hardware, provenance))
        return 0

    def eval_point(self, run_id: int, point) -> None:
        self.records.append(Point(point))

    def timeline(self, run_id: int, timeline: dict) -> None:
        self.records.append(Timeline(timeline))

    def finish(self, run_id: int, outcome) -> None:
        self.records.append(Finished(outcome))


def run_on_node(
    study, spec, artifacts_dir, threads: int, desk=None, resume: bool = False, keep: bool = True
) -> list[SinkRecord | Failed]:
    """What a Ray task does on its node: open the environment there and run the spec (claimed by the
    coordinator already: the first record is the node's hardware, for the run's record). ``desk``:
    where it asks the coordinator whether to stop after each evaluation (``ray_session.py``).
    ``resume``: continue the run's paused attempt from its checkpoint (its record is the
    coordinator's; a ``begin`` comes only if the checkpoint has gone). ``keep``: leave the
    checkpoint of a run that paused (else it is removed: no one would resume it)."""
    from powertrain.study.execute import RunEnv, execute_run
    from powertrain.study.executors.ray_session import remote_stop
    from powertrain.study.resume import discard

    if study.threads is None:
        study = dataclasses.replace(study, threads=threads)
    sink = RecordingSink()
    try:
        env = RunEnv.open(study, artifacts_dir=artifacts_dir)
        if desk is not None:
            env.stop_handlers = lambda spec: (remote_stop(desk, spec.run_key),)
        if not resume:
            sink.begin(spec, env.hardware, env.provenance)
        execute_run(spec, env, sink, run_id=0, resume=resume)
        if not keep:
            discard(spec, env)
    except Exception as exc:  # noqa: BLE001 - a failed pretraining stage or a node-side setup error
        sink.records.append(Failed(ErrorRecord.of(exc)))
    return sink.records


class RayExecutor:
    """Runs each run as a Ray task, as many at once as the cluster has room for."""

    machine_total = None  # each node's meters are its own

    def __init__(
        self,
        *,
        address: str | None = None,
        gpus_per_run: float = 0,
        cpus_per_run: float = 1,
        artifacts_dir=None,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        for name, value in (("gpus_per_run", gpus_per_run), ("cpus_per_run", cpus_per_run)):
            if not (isinstance(value, int | float) and 0 <= value < 1e6):
                raise PowertrainError(f"--{name.replace('_', '-')}: {value!r} is not a count")
        self.address = address
        self.gpus_per_run, self.cpus_per_run = gpus_per_run, cpus_per_run
        self.artifacts_dir = artifacts_dir
        self.init_options = init_options or {}
        self._task = None  # the Ray task, made once connected

    def prepare(self, study: StudyConfig, artifacts_dir: Path) -> None:
        """Refuse GPU power limits (their journal is the store, which a node cannot reach); model
        files and checkpoints go where the coordinator keeps them (unless given)."""
        from powertrain.power_limit import study_limits_w

        if study_limits_w(study):
            raise PowertrainError(
                "grid.gpu_power_limit_w is not supported with --executor ray (the limit's journal"
                " is the store, which a Ray node cannot reach); run such a study with --workers"
            )
        self.artifacts_dir = self.artifacts_dir or artifacts_dir

    def connect(self):
        ray = import_ray()
        if not ray.is_initialized():
            check_reachable(self.address)  # Ray itself retries a dead address for minutes
            try:
                ray.init(
                    address=self.address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                    **self.init_options,
                )
            except (ConnectionError, TimeoutError) as exc:
                raise PowertrainError(f"--address {self.address}: {exc}") from None
        return ray

    def task(self):
        """The Ray task that runs a spec on its node, with each run's resources."""
        if self._task is None:
            self._task = (
                self.connect()
                .remote(run_on_node)
                .options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=0)
            )
        return self._task

    @contextlib.contextmanager
    def session(
        self, study: StudyConfig, sink: RunSink, runs: int | None = None
    ) -> Iterator[RaySession]:
        """Runs as Ray tasks, as many at once as the cluster has room for (its CPUs and GPUs over
        each run's), their stops asked of this process."""
        from powertrain.study.executors.ray_session import RaySession

        ray = self.connect()
        resources, room = ray.cluster_resources(), []
        if self.cpus_per_run:
            room.append(resources.get("CPU", 0) / self.cpus_per_run)
        if self.gpus_per_run:
            room.append(resources.get("GPU", 0) / self.gpus_per_run)
        yield RaySession(self, ray, study, sink, max(1, int(min(room))) if room else 1)


#: How long to wait for a Ray cluster's address to answer before giving up.
CONNECT_TIMEOUT_S = 5.0


def check_reachable(address: str | None, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """For a HOST:PORT (or ray://HOST:PORT) address, one bounded TCP connect to it, so that a dead or
    mistyped address is one clear error within ``timeout_s``; ``auto`` and no address are Ray's."""
    import socket

    if not address or address == "auto" or address.startswith("local"):
        return
    where = address.split("://", 1)[-1]
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise PowertrainError(f"--address {address!r}: expected HOST:PORT (or ray://HOST:PORT)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise PowertrainError(
            f"--address {address}: no Ray cluster answers there ({reason} within {timeout_s:g} s); "
            "start one (ray start --head) or give its address"
        ) from None
