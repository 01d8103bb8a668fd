"""MLflow: one MLflow run per powertrain run, in the experiment named after the study, written with
``MlflowClient`` (no active-run state, so runs of parallel workers never mix). Where it goes is
MLflow's to say: ``MLFLOW_TRACKING_URI`` (a server, ``sqlite:///mlflow.db``, a folder)."""

from __future__ import annotations

import re
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from powertrain.loggers.base import (
    Destination,
    Logged,
    RunInfo,
    RunLog,
    nodes_tags,
    outcome_metrics,
    outcome_tags,
    plain,
    point_metrics,
    through_proxy,
)
from powertrain.records import FAILED, EvalPoint, RunOutcome

MAX_PARAM_CHARS = 6000  # MLflow refuses longer param values
MAX_BATCH = 1000  # metrics per log_batch, MLflow's limit
MAX_EXPERIMENT_CHARS = 500  # MLflow refuses longer experiment names
MAX_NAME_CHARS = 250  # and longer param and metric names
REACH_S = 5.0  # how long a tracking server has to accept a connection
#: The tracking stores that are a server somewhere, by scheme, and their usual ports.
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433}


class MlflowDestination(Destination):
    name = "mlflow"

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri  # None: MLFLOW_TRACKING_URI, else MLflow's default
        self._client: Any = None
        self._experiments: dict[str, str] = {}

    def client(self):
        if self._client is None:
            import mlflow
            from mlflow.tracking import MlflowClient

            uri = self.tracking_uri or mlflow.get_tracking_uri()
            check_reachable(uri)  # before the client, which opens a database store at once
            self._client = MlflowClient(tracking_uri=uri)
        return self._client

    def experiment_id(self, study: str) -> str:
        if study not in self._experiments:
            client = self.client()
            name = study[:MAX_EXPERIMENT_CHARS]  # the whole name is the powertrain.study tag
            found = client.get_experiment_by_name(name)
            self._experiments[study] = (
                found.experiment_id if found is not None else client.create_experiment(name)
            )
        return self._experiments[study]

    def open(self, info: RunInfo) -> RunLog:
        from mlflow.entities import Param, RunTag

        client = self.client()
        run = client.create_run(
            self.experiment_id(info.study),
            # when the attempt began, as its record has it (``logged`` finds it by that), however
            # late the loggers' thread opens a live copy; now where the start is not known
            start_time=None if info.started_at is None else int(info.started_at * 1000),
            run_name=info.name,
            tags={**info.tags(), "mlflow.source.name": "powertrain"},
        )
        named = mlflow_names(sorted(info.params()))
        params = [
            Param(named[k], str(plain(v))[:MAX_PARAM_CHARS]) for k, v in info.params().items()
        ]
        for start in range(0, len(params), 100):  # MLflow's batch limit for params
            client.log_batch(run.info.run_id, params=params[start : start + 100])
        client.log_batch(run.info.run_id, tags=[RunTag("powertrain.status", "running")])
        return MlflowRun(client, run.info.run_id)

    def logged(self, info: RunInfo) -> Logged | None:
        """The MLflow run of this attempt in the study's experiment, by its ``powertrain.run_key``
        tag, ``powertrain.run_id`` and start time (deleted runs do not count). An attempt paused
        and continued on another machine has two: finished if either is."""
        client = self.client()
        experiment = client.get_experiment_by_name(info.study[:MAX_EXPERIMENT_CHARS])
        if experiment is None:
            return None
        key = info.run_key
        # MLflow's filters take any text but a single quote: a key with one is found by paging
        where = "" if "'" in key else f"tags.`powertrain.run_key` = '{key}'"
        unfinished, token = None, None
        while True:
            page = client.search_runs([experiment.experiment_id], where, page_token=token)
            for run in page:
                tags = run.data.tags
                if tags.get("powertrain.run_key") != key or not info.same_attempt(
                    tags, run.info.start_time / 1000
                ):
                    continue
                if run.info.status != "RUNNING" and tags.get("powertrain.status") != "running":
                    return Logged(finished=True)
                unfinished = unfinished or run
            token = page.token
            if not token:
                break
        if unfinished is None:
            return None
        history = client.get_metric_history(unfinished.info.run_id, "energy_j")
        steps = frozenset(m.step for m in history)
        return Logged(False, steps, MlflowRun(client, unfinished.info.run_id))


class MlflowRun(RunLog):
    def __init__(self, client, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def point(self, point: EvalPoint) -> None:
        self.points([point])

    def points(self, points: list[EvalPoint]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(mlflow_name(k), v, now, p.step)
            for p in points
            for k, v in point_metrics(p).items()
        ]
        for start in range(0, len(metrics), MAX_BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[start : start + MAX_BATCH])

    def nodes(self, nodes: list[dict[str, Any]]) -> None:
        from mlflow.entities import RunTag

        tags = [RunTag(k, v[:5000]) for k, v in nodes_tags(nodes).items()]
        if tags:
            self.client.log_batch(self.run_id, tags=tags)

    def _metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(mlflow_name(k), v, now, step) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, outcome: RunOutcome) -> None:
        from mlflow.entities import RunTag

        self._metrics(outcome_metrics(outcome), outcome.steps)
        tags = [RunTag(k, v[:5000]) for k, v in outcome_tags(outcome).items()]
        self.client.log_batch(self.run_id, tags=tags)
        self.client.set_terminated(
            self.run_id, status="FAILED" if outcome.status == FAILED else "FINISHED"
        )


def mlflow_name(name: str) -> str:
    """``name`` as MLflow takes a param or metric name: letters, digits, ``_-. :/`` (anything else
    ``_``), no empty, ``.`` or ``..`` part between slashes, none first, at most 250 characters
    (``layers[0]`` is ``layers_0_``). A name it takes already is kept as it is."""
    name = re.sub(r"[^/\w.\- :]", "_", name)
    name = "/".join("_" if part in ("", ".", "..") else part for part in name.split("/"))
    name = "_" + name if name.startswith("..") else name
    return name[:MAX_NAME_CHARS]


def mlflow_names(names: list[str]) -> dict[str, str]:
    """Each of ``names`` -> its ``mlflow_name``, told apart (``_2``, ...) where two come out alike
    (a name MLflow takes as it is keeps it)."""
    named: dict[str, str] = {}
    for name in sorted(names, key=lambda n: mlflow_name(n) != n):
        shown, n = mlflow_name(name), 1
        while shown in named.values():
            n += 1
            shown = f"{mlflow_name(name)[: MAX_NAME_CHARS - 4]}_{n}"
        named[name] = shown
    return named


def check_reachable(uri: str, timeout_s: float = REACH_S) -> None:
    """A tracking server or database that does not answer is refused at once (MLflow itself retries
    for minutes, and the run's end would wait on it): a ConnectionError saying so, for one warning.
    Other stores (a file, SQLite, a socket) are left to MLflow."""
    parts = urlsplit(uri)
    default_port = DEFAULT_PORTS.get(parts.scheme.split("+")[0])  # postgresql+psycopg2: postgresql
    if default_port is None or not parts.hostname:
        return
    what, host, port = "MLflow tracking store", parts.hostname, parts.port or default_port
    proxy = through_proxy(parts.scheme, parts.hostname)  # requests, MLflow's client, honours it
    if proxy is not None:
        what, host = "proxy to the MLflow tracking server", proxy.hostname
        port = proxy.port or DEFAULT_PORTS.get(proxy.scheme or "http", 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise ConnectionError(f"the {what} {host}:{port} does not answer ({exc})") from None
