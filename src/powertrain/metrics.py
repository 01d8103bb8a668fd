"""Prometheus: the energy of what powertrain measures, served in the text exposition format for a
Prometheus (and a Grafana board over it) to scrape. Off unless asked for (``--metrics-port``); it
binds 127.0.0.1 unless told another address (``--metrics-addr``).

- ``powertrain_energy_joules_total`` (counter): joules per component, method, host and run;
- ``powertrain_power_watts`` (gauge): the mean power since the previous reading, same labels;
- ``powertrain_run_val_accuracy``, ``powertrain_run_step``, ``powertrain_run_eval_points`` (gauges):
  each run's progress; ``powertrain_runs_finished_total`` (counter) by status; ``powertrain_runs_running``.

``MetricsEndpoint`` is a run observer (``loggers.observe``), fed at every evaluation point by
``powertrain run`` and ``track()``; ``watch(monitor, run)`` feeds it from a monitor's sampler for
``powertrain measure``. Its own registry, so two endpoints (tests) never share figures.
"""

from __future__ import annotations

import contextlib
import errno
import platform
import threading
from collections.abc import Mapping
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.loggers.base import RunInfo
from powertrain.loggers.observe import RunObserver
from powertrain.meters.base import method_label
from powertrain.records import EvalPoint, RunOutcome, estimated_on_nodes

LABELS = ("component", "method", "host", "run")
DEFAULT_ADDR = "127.0.0.1"


class PortInUse(PowertrainError):
    """Another program listens on the port: a command may go on without the endpoint."""


class MetricsEndpoint(RunObserver):
    """A registry of powertrain's metrics served over HTTP at ``addr:port`` (port 0: any free one;
    ``port`` then says which)."""

    def __init__(self, port: int, addr: str = DEFAULT_ADDR) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise PowertrainError(
                f"MetricsEndpoint: port must be a whole number from 0 to 65535 (0: any free one), "
                f"got {port!r}"
            )
        if not isinstance(addr, str) or not addr:
            raise PowertrainError(
                f"MetricsEndpoint: addr must be an address to listen on (such as {DEFAULT_ADDR!r} "
                f"or '::1'), got {addr!r}"
            )

        registry = CollectorRegistry()
        self.energy = Counter(
            "powertrain_energy_joules", "Energy used, per component", LABELS, registry=registry
        )
        self.power = Gauge(
            "powertrain_power_watts",
            "Mean power since the previous reading",
            LABELS,
            registry=registry,
        )
        run = ("run",)
        self.accuracy = Gauge(
            "powertrain_run_val_accuracy", "Latest validation accuracy", run, registry=registry
        )
        self.step = Gauge(
            "powertrain_run_step", "Training steps at the latest evaluation", run, registry=registry
        )
        self.points = Gauge(
            "powertrain_run_eval_points", "Evaluations so far", run, registry=registry
        )
        self.finished = Counter(
            "powertrain_runs_finished", "Runs ended, by status", ("status",), registry=registry
        )
        self.running = Gauge("powertrain_runs_running", "Runs in progress", registry=registry)
        try:
            self._server, self._thread = start_http_server(port, addr, registry=registry)
        except (OSError, ValueError) as exc:  # ValueError: a name no resolver takes (UnicodeError)
            why = getattr(exc, "strerror", None) or exc
            if getattr(exc, "errno", None) == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} on {addr} is in use ({why}); the training goes on without the "
                    "endpoint: pass another --metrics-port, or --metrics-port 0 for any free one"
                ) from None
            raise PowertrainError(
                f"--metrics-port {port}: cannot listen on {addr!r}: {why}"
            ) from None
        self.addr, self.port = addr, self._server.server_port
        self._runs: dict[int, _Labels] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr  # an IPv6 address: bracketed
        return f"http://{host}:{self.port}/metrics"

    # -- a run observer ---------------------------------------------------------------------------
    def run_begun(self, info: RunInfo) -> None:
        host = str(info.hardware.get("host") or platform.node())
        methods = {c: series_method(p) for c, p in info.provenance.items()}
        with self._lock:
            self._runs[info.run_id] = _Labels(f"{info.study}/{info.run_id}", host, methods)
        self.running.inc()

    def eval_point(self, run_id: int, point: EvalPoint) -> None:
        labels = self._runs.get(run_id)
        if labels is None:
            return
        self.reading(labels, point.energy_j, point.elapsed_s)
        self.accuracy.labels(labels.run).set(point.val_accuracy)
        self.step.labels(labels.run).set(point.step)
        self.points.labels(labels.run).inc()

    def run_finished(self, run_id: int, outcome: RunOutcome) -> None:
        with self._lock:
            labels = self._runs.pop(run_id, None)
        if labels is None:
            return
        self._estimated_on_nodes(labels, outcome.nodes)
        self.reading(labels, outcome.energy_j, outcome.duration_s)
        self.finished.labels(str(outcome.status.value)).inc()
        self.running.dec()

    def run_nodes(self, run_id: int, nodes: list[dict[str, Any]]) -> None:
        """Rank 0 learnt, combining its ranks' figures, that some node estimated: from this point
        on (and what was served before it) the series say ``method="estimate"``."""
        labels = self._runs.get(run_id)
        if labels is not None:
            self._estimated_on_nodes(labels, nodes)

    def _estimated_on_nodes(self, labels: _Labels, nodes: list[dict[str, Any]]) -> None:
        """A distributed run's figure another node only estimated is an estimate, though rank 0's
        method labelled its series: that series goes, its joules served again under
        ``method="estimate"``, where the reading that follows adds the rest."""
        with self._lock:
            for component in estimated_on_nodes(nodes):
                method = labels.methods.get(component, "unknown")
                if method.endswith("estimate"):
                    continue
                values = (component, method, labels.host, labels.run)
                for metric in (self.energy, self.power):
                    with contextlib.suppress(KeyError):  # no reading of it yet
                        metric.remove(*values)
                labels.methods[component] = "estimate"
                if labels.energy_j.get(component):  # what it served so far, now as an estimate
                    self.energy.labels(component, "estimate", labels.host, labels.run).inc(
                        labels.energy_j[component]
                    )

    def reading(self, labels: _Labels, energy_j: dict[str, float], t_s: float) -> None:
        """A cumulative reading of a run: the counters go up by what is new since the last one."""
        with self._lock:
            for component, total_j in energy_j.items():
                values = (
                    component,
                    labels.methods.get(component, "unknown"),
                    labels.host,
                    labels.run,
                )
                new_j = total_j - labels.energy_j.get(component, 0.0)
                if new_j > 0:  # a counter never goes down (a resumed run's reading starts lower)
                    self.energy.labels(*values).inc(new_j)
                    labels.energy_j[component] = total_j
                if t_s > labels.t_s:
                    self.power.labels(*values).set(max(new_j, 0.0) / (t_s - labels.t_s))
            labels.t_s = max(t_s, labels.t_s)

    def watch(self, monitor: Any, run: str, every_s: float = 1.0) -> _Watch:
        """Feed the endpoint from ``monitor``'s samples every ``every_s`` (``powertrain measure``),
        until the returned watch is stopped (it reads the sampler's snapshots, never the meters)."""
        if (
            isinstance(every_s, bool)
            or not isinstance(every_s, (int, float))
            or not every_s >= 0.01
        ):
            raise PowertrainError(  # 0 or less: a thread spinning on a core, in the energy it serves
                f"watch: every_s must be a number of seconds, at least 0.01, got {every_s!r}"
            )
        host = platform.node()
        methods = {c: series_method(m.provenance) for c, m in monitor.meters.items()}
        labels = _Labels(run, host, methods)
        return _Watch(self, monitor, labels, every_s)

    def close(self) -> None:
        """Stop serving (idempotent); the port is free again."""
        server, self._server = getattr(self, "_server", None), None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join()


def series_method(provenance: Any) -> str:
    """A component's ``method`` label: its method, and ``+estimate`` where its figure is an estimate
    that the method's name does not say is one (``apportioned+estimate``: a shared counter split by
    CPU time; ``replay+estimate``: a replayed trace of estimates; ``counter+estimate``)."""
    word = method_label(provenance)  # counter+estimate already where a measuring method's is
    if isinstance(provenance, Mapping):
        estimated = bool(provenance.get("estimated", True))
    else:
        estimated = bool(provenance.estimated)
    return f"{word}+estimate" if estimated and not word.endswith("estimate") else word


class _Labels:
    """One run's labels and its last cumulative reading."""

    def __init__(self, run: str, host: str, methods: dict[str, str]) -> None:
        self.run, self.host, self.methods = run, host, methods
        self.energy_j: dict[str, float] = {}
        self.t_s = 0.0


class _Watch:
    def __init__(self, endpoint: MetricsEndpoint, monitor, labels: _Labels, every_s: float) -> None:
        self.endpoint, self.monitor, self.labels, self.every_s = endpoint, monitor, labels, every_s
        self._base: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="powertrain-metrics", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.update()

    def update(self) -> None:
        samples = self.monitor.samples()
        if not samples:
            return
        if self._base is None:
            self._base = samples[0]
        last, base = samples[-1], self._base
        energy_j = {c: last.energy_j[c] - base.energy_j[c] for c in last.energy_j}
        self.endpoint.reading(self.labels, energy_j, last.t_s - base.t_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.update()  # the last samples, up to the monitor's stop
