"""What every logger is given, and the one set of names each writes it under.

A ``Destination`` is one tool (MLflow, TensorBoard, W&B); ``open(info)`` starts one logged run for
one powertrain run and returns its ``RunLog``, which gets every evaluation point and the outcome. The
names come from here, so a figure is called the same in every tool:

- params: every training hyperparameter and ``seed``;
- per evaluation point, at its step: ``energy_j`` (cumulative, all components), ``energy_j/<component>``,
  ``val_accuracy`` (and ``val_accuracy/<task>`` with several tasks), ``elapsed_s``, ``train_loss``;
- at the end: ``energy_to_target_j``, ``time_to_target_s``, ``steps_to_target`` (reached runs),
  ``total_energy_j``, ``duration_s``, ``final_val_accuracy``, ``test_accuracy``; the status and stop
  reason and verdict (``target``, ``max_epochs``, ``search_bound``, ...) as tags;
- tags: ``powertrain.study``, ``powertrain.run_key``, ``powertrain.run_id``, ``powertrain.measurement``
  (``measured`` or ``ESTIMATE (...)``), ``powertrain.estimated``, ``powertrain.method.<component>``,
  ``powertrain.meter.<component>``, ``powertrain.host``, ``powertrain.setup``.

Loggers copy; the results store stays the record.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from powertrain.meters.base import is_estimated, measurement_label, method_label
from powertrain.records import EvalPoint, RunOutcome, RunRecord, estimated_on_nodes

#: How far a tool's clock (a run's start time in it) may be off the store's, in seconds.
CLOCK_SLACK_S = 5.0


@dataclass(frozen=True)
class Logged:
    """What a tool holds already of a run an export is about to write (``Destination.logged``):
    a finished copy is left as it is; an unfinished one (live logging that stopped half-way) gets
    the points it lacks (``steps`` it has) and the outcome, through ``log``."""

    finished: bool
    steps: frozenset[int] = frozenset()
    log: RunLog | None = None


@dataclass(frozen=True)
class RunInfo:
    """One powertrain run as a logger sees it: who it is and how its figures are obtained."""

    study: str
    run_key: str
    run_id: int
    setup: dict[str, Any]
    train: dict[str, Any]
    seed: int
    provenance: dict[str, dict[str, Any]]
    hardware: dict[str, Any] = field(default_factory=dict)
    stage: str = "train"
    #: When the attempt began and ended (the store's clock, s since the epoch, as its record has
    #: them), where known: a run from the store (an export) has both; one logged live as it begins
    #: has its start (so a tool's copy of it is the one its export finds: the same W&B id, the same
    #: MLflow start), not its end.
    started_at: float | None = None
    finished_at: float | None = None

    @classmethod
    def of_record(cls, run: RunRecord) -> RunInfo:
        return cls(
            run.study,
            run.run_key,
            run.id,
            dict(run.setup),
            dict(run.train),
            run.seed,
            dict(run.provenance),
            dict(run.hardware),
            str(getattr(run.stage, "value", run.stage)),
            run.started_at,
            run.finished_at,
        )

    def same_attempt(self, tags: dict[str, str], began_s: float) -> bool:
        """Whether a tool's run with these ``tags`` (its ``powertrain.run_key`` matched already),
        begun at ``began_s``, is a copy of this attempt: logged live or by an export (begun at the
        attempt's start; a live copy of an older powertrain, at any time while the attempt ran). An
        earlier attempt of the same key has another store id; the same study in another machine's
        store (its ids count from 1 too, its runs overlap in time) has another ``powertrain.host``."""
        if tags.get("powertrain.run_id") != str(self.run_id) or self.started_at is None:
            return False
        host = self.tags().get("powertrain.host")
        if host is not None and tags.get("powertrain.host", host) != host:
            return False
        end = self.finished_at if self.finished_at is not None else float("inf")
        return self.started_at - CLOCK_SLACK_S <= began_s <= end + CLOCK_SLACK_S

    @property
    def name(self) -> str:
        """A run's name in a tool: its setup and seed (``batch_size=32 lr=0.1 seed=0``)."""
        label = " ".join(f"{k}={v}" for k, v in self.setup.items())
        prefix = "pretrain " if self.stage == "pretrain" else ""
        return f"{prefix}{label} seed={self.seed}".strip()

    def params(self) -> dict[str, Any]:
        """Every training hyperparameter and the seed; a hyperparameter of the user's named ``seed``
        (another seed than the run's) keeps its name, the run's seed goes beside it."""
        params = dict(self.train)
        if params.get("seed", self.seed) == self.seed:
            params["seed"] = self.seed
        else:
            params[free_name("powertrain.seed", params)] = self.seed
        return params

    def tags(self) -> dict[str, str]:
        """Provenance and identity: enough to find the run in the store from the tool."""
        tags = {
            "powertrain.study": self.study,
            "powertrain.run_key": self.run_key,
            "powertrain.run_id": str(self.run_id),
            "powertrain.measurement": measurement_label(self.provenance),
            "powertrain.estimated": str(is_estimated(self.provenance)).lower(),
            "powertrain.setup": " ".join(f"{k}={v}" for k, v in self.setup.items()),
        }
        if self.hardware.get("host"):
            tags["powertrain.host"] = str(self.hardware["host"])
        for component, p in self.provenance.items():
            tags[f"powertrain.method.{component}"] = method_label(p)
            tags[f"powertrain.meter.{component}"] = str(p.get("meter"))
        return tags


def free_name(name: str, taken) -> str:
    """``name``, or the first of ``name_2``, ``name_3``... not in ``taken``: where powertrain puts a
    value of its own in a tool's record beside the user's hyperparameters, never over one of them."""
    shown, n = name, 1
    while shown in taken:
        n += 1
        shown = f"{name}_{n}"
    return shown


def point_metrics(point: EvalPoint) -> dict[str, float]:
    """An evaluation point's figures, cumulative since the run began."""
    metrics = {"energy_j": point.total_energy_j}
    metrics.update({f"energy_j/{c}": float(e) for c, e in point.energy_j.items()})
    metrics["val_accuracy"] = float(point.val_accuracy)
    if len(point.task_accuracies) > 1:
        metrics.update({f"val_accuracy/{t}": float(a) for t, a in point.task_accuracies.items()})
    metrics["elapsed_s"] = float(point.elapsed_s)
    if point.train_loss is not None:
        metrics["train_loss"] = float(point.train_loss)
    return metrics


FINAL_FIGURES = (
    "energy_to_target_j",
    "time_to_target_s",
    "steps_to_target",
    "total_energy_j",
    "duration_s",
    "final_val_accuracy",
    "test_accuracy",
)


def outcome_metrics(outcome: RunOutcome) -> dict[str, float]:
    """The outcome's figures that it has (``*_to_target`` only when the target was reached)."""
    values = {name: getattr(outcome, name) for name in FINAL_FIGURES}
    metrics = {name: float(v) for name, v in values.items() if v is not None}
    metrics.update({f"total_energy_j/{c}": float(e) for c, e in outcome.energy_j.items()})
    return metrics


def outcome_tags(outcome: RunOutcome) -> dict[str, str]:
    """Status, the typed verdict and the stop reason in words; for a distributed run some node of
    which estimated a figure, the measurement tags again, as an estimate."""
    tags = {
        "powertrain.status": str(outcome.status.value),
        "powertrain.stop_reason": str(outcome.stop_reason),
    }
    if outcome.verdict is not None:  # why, typed: target, max_epochs, search_bound, ...
        tags["powertrain.verdict"] = outcome.verdict.value
    if outcome.faults:
        tags["powertrain.faults"] = "; ".join(outcome.faults)
    tags.update(nodes_tags(outcome.nodes))  # the start's came from rank 0's meters alone
    return tags


def nodes_tags(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """For a distributed run some node of which estimated a figure (its ``nodes``, as combined at
    an evaluation or at the end), the measurement tags for the whole job, as an estimate; else none."""
    estimated = estimated_on_nodes(nodes)
    if not estimated:
        return {}
    where = "; ".join(f"{c} estimated on {names}" for c, names in estimated.items())
    tags = {"powertrain.estimated": "true", "powertrain.measurement": f"ESTIMATE ({where})"}
    for component in estimated:  # rank 0's method alone no longer says how the sum was made
        tags[f"powertrain.method.{component}"] = nodes_method(nodes, component)
    return tags


def nodes_method(nodes: list[dict[str, Any]], component: str) -> str:
    """How a distributed run's sum of ``component`` was made: its nodes' methods, each once, and
    ``estimate`` where a node estimated it (``counter+estimate``)."""
    words: list[str] = []
    for node in nodes:
        method = (node.get("method") or {}).get(component)
        if method and method not in words:
            words.append(method)
    if "estimate" not in words and any((n.get("estimated") or {}).get(component) for n in nodes):
        words.append("estimate")
    return "+".join(words)


def plain(value: Any) -> str | int | float | bool:
    """A value as a tool's param or config takes it: numbers and words as they are, else text."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping | list | tuple) or value is None:
        return str(value)
    return str(getattr(value, "value", value))


class RunLog(ABC):
    """One logged run in a tool."""

    @abstractmethod
    def point(self, point: EvalPoint) -> None: ...

    def points(self, points: list[EvalPoint]) -> None:
        """Several points at once (the loggers' thread fell behind); a tool may send them as one."""
        for point in points:
            self.point(point)

    def nodes(self, nodes: list[dict[str, Any]]) -> None:  # noqa: B027 - optional hook
        """A distributed run's nodes as combined at an evaluation (``nodes_tags``): a tool that
        labelled the run by rank 0's meters at ``open`` says estimate from now on."""

    @abstractmethod
    def finish(self, outcome: RunOutcome) -> None: ...


class Destination(ABC):
    """One tool. ``open`` may be slow (a server, a login); it runs on the loggers' own thread."""

    name = "destination"

    @abstractmethod
    def open(self, info: RunInfo) -> RunLog: ...

    def logged(self, info: RunInfo) -> Logged | None:
        """What this tool holds already of the attempt ``info`` (from the store, so with its start
        time), for an export; None where it holds none or cannot tell."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """After the last run: flush and let go of what the tool holds."""


def through_proxy(scheme: str, host: str, configured: str | None = None):
    """The proxy (``urlsplit``) a tool's HTTP(S) connection to ``host`` goes through: ``configured``
    (the tool's own setting), else the environment's (``HTTPS_PROXY``, ``NO_PROXY``); None for
    none. A reachability check asks the proxy, not the server, which only the proxy may reach."""
    import urllib.request
    from urllib.parse import urlsplit

    if scheme not in ("http", "https"):
        return None
    proxy = configured or urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return urlsplit(proxy if "://" in proxy else f"//{proxy}")


def tool_error(exc: BaseException) -> str:
    """A tool's error as one line for a warning or an export's message: its kind and first line (a
    database error's SQL statement left out), any URL's password masked."""
    from powertrain.store.location import mask_urls

    first, *rest = str(exc).strip().splitlines() or [""]
    return mask_urls(f"{type(exc).__name__}: {first}{' ...' if rest else ''}")


def energy_metrics(energy_j: Mapping[str, float], estimated: bool) -> dict[str, float]:
    """Cumulative energy as a framework's logs take it: ``energy_j`` and ``energy_j/<component>``,
    and ``energy_estimated`` (1.0 where any of it is an estimate, 0.0 measured: those logs take
    numbers only, and a bare ``energy_j`` would pass for a measurement)."""
    return {
        "energy_j": float(sum(energy_j.values())),
        **{f"energy_j/{c}": float(e) for c, e in energy_j.items()},
        "energy_estimated": 1.0 if estimated else 0.0,
    }
