"""Combines meters into measurements: named, nestable windows, and an optional sampler thread.

    monitor = Monitor(detect_meters().meters)
    with monitor:                              # starts and stops the sampler, if any
        with monitor.window("epoch-3") as w:
            train_one_epoch()
    print(w.result.energy_j, w.result.label())

A window reads every meter at its edges: a timestamp, then the counters, nothing else in between. The
sampler (10 Hz by default) reads them in the background, which keeps integrated-power meters honest,
never misses a counter wrap, and gives the power timeline that a trace file records.

Faults travel with the figures they touch: what a meter notes (a counter reset, a bad reading) and a
read the sampler could not make are kept in the monitor's log, and a window's Measurement lists those
noted between its two edges (``faults``), nothing from before it; so does a figure smaller than the
meter can resolve at either edge (an estimate counts its live children's CPU time in clock ticks), or
shorter than ten of its updates (NVML's counter moves every 100 ms).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.meters.base import Component, Meter, MeterError, Provenance
from powertrain.trace import Trace, TraceWriter

DEFAULT_INTERVAL_S = 0.1
#: A figure below this many times its meter's resolution is flagged (its error may pass 1 in 10).
RESOLUTION_FACTOR = 10
#: In every note of a figure below its meter's resolution (see ``below_resolution``).
RESOLUTION_WORDS = "meter resolves well"
#: Faults a monitor keeps word for word; beyond, a window says how many more there were.
MAX_FAULTS_LISTED = 100
#: The sampler gives up (and the next window end raises) after this many failed reads in a row.
MAX_SAMPLER_ERRORS = 3


@dataclass(frozen=True)
class Snapshot:
    t_s: float
    energy_j: dict[str, float]
    faults_at: int = 0  # the length of the monitor's fault log once this snapshot was taken
    #: At a window's edge: each coarse meter's resolution then (joules, why), as its figure was read.
    resolution: Mapping[str, tuple[float, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Measurement:
    """What one window used: energy per component, how long it took, and how each figure was got."""

    name: str
    start_s: float
    duration_s: float
    energy_j: Mapping[str, float]
    provenance: Mapping[str, Provenance]
    faults: tuple[str, ...] = ()  # what went wrong with these figures, noted during the window

    @property
    def total_energy_j(self) -> float:
        return sum(self.energy_j.values())

    @property
    def estimated(self) -> bool:
        return any(p.estimated for p in self.provenance.values())

    def label(self) -> str:
        return ", ".join(f"{c} {p.label()}" for c, p in self.provenance.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "duration_s": self.duration_s,
            "energy_j": self.total_energy_j,
            "estimated": self.estimated,
            "faults": list(self.faults),
            "components": {
                c: {
                    "energy_j": self.energy_j[c],
                    "method": p.method.value,
                    "estimated": p.estimated,
                    "meter": p.meter,
                    "details": dict(p.details),
                }
                for c, p in self.provenance.items()
            },
        }


@dataclass
class Window:
    """An open window; ``result`` is filled in when it ends."""

    name: str
    begin: Snapshot
    result: Measurement | None = field(default=None)


class Monitor:
    def __init__(
        self,
        meters: Mapping[Component, Meter] | Sequence[Meter],
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        sample: bool | None = None,
        trace_path: str | None = None,
        synchronize: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        buffer_len: int = 36_000,
    ) -> None:
        """``sample``: run the sampler thread; by default only when a meter needs it or a trace is
        wanted. ``synchronize`` runs at every window edge (``torch.cuda.synchronize`` on a GPU)."""
        if not (math.isfinite(interval_s) and interval_s > 0):
            raise PowertrainError(
                f"the sampling interval must be a positive number of seconds, got {interval_s} s"
            )
        listed = meters.values() if isinstance(meters, Mapping) else meters
        self.meters: dict[str, Meter] = {m.component.value: m for m in listed}
        if not self.meters:
            raise PowertrainError(
                "no meter to monitor with; `powertrain meters` shows what is available"
            )
        self.interval_s = interval_s
        needs = any(m.needs_sampling for m in self.meters.values())
        self.sampling = (needs or trace_path is not None) if sample is None else sample
        self.trace_path = trace_path
        self.synchronize = synchronize
        self._clock = clock
        self._samples: deque[Snapshot] = deque(maxlen=buffer_len)
        self._open: dict[str, Window] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._writer: TraceWriter | None = None
        self._fault: BaseException | None = None
        self._t0_s: float | None = None
        self.started_at_unix: float | None = None
        self._trace_written = False
        self._log_lock = threading.Lock()
        self._fault_log: list[str] = []  # the first MAX_FAULTS_LISTED faults, word for word
        self._fault_total = 0  # every fault noted, listed or not
        self._faults_seen = {c: m.fault_count for c, m in self.meters.items()}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Monitor:
        """Start the clock (once) and, if sampling, the sampler thread. Idempotent; restartable."""
        if self._t0_s is None:
            self._t0_s = self._clock()
            self.started_at_unix = (
                time.time()
            )  # to place the timeline in wall-clock time (carbon series)
        if self.trace_path is not None and self._writer is None:
            components = {c: m.provenance.to_dict() for c, m in self.meters.items()}
            self._writer = TraceWriter(
                self.trace_path,
                components,
                self.interval_s,
                append=self._trace_written,
                started_at_unix=self.started_at_unix,
            )
            self._trace_written = True
        if self.sampling and self._thread is None:
            self._record(self._snapshot())
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._sample_loop, name="powertrain-sampler", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the sampler, write the last sample, close the trace. Idempotent; leaves no thread."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            if self._fault is None:
                self._record(self._snapshot())
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        """Stop, and release the meters."""
        self.stop()
        for meter in self.meters.values():
            meter.close()

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- windows ---------------------------------------------------------------------------------
    def begin(self, name: str) -> Window:
        if name in self._open:
            raise PowertrainError(f"a window named {name!r} is already open")
        self.start()
        window = Window(name, self._edge(rescan="begin"))
        self._open[name] = window
        return window

    def read(self, name: str) -> Measurement:
        """What an open window has used so far, leaving it open (cumulative figures)."""
        window = self._open.get(name)
        if window is None:
            raise PowertrainError(f"no open window named {name!r}")
        return self._measure(window, self._edge())

    def end(self, name: str) -> Measurement:
        window = self._open.pop(name, None)
        if window is None:
            raise PowertrainError(f"no open window named {name!r}")
        window.result = self._measure(window, self._edge(rescan="end"))
        return window.result

    def _measure(self, window: Window, end: Snapshot) -> Measurement:
        self._raise_fault()
        energy_j = {c: end.energy_j[c] - window.begin.energy_j[c] for c in self.meters}
        duration_s = end.t_s - window.begin.t_s
        with self._log_lock:
            faults = self._fault_log[window.begin.faults_at : end.faults_at]
        unlisted = (end.faults_at - window.begin.faults_at) - len(faults)
        if unlisted > 0:
            faults.append(f"and {unlisted} more faults, not listed")
        return Measurement(
            name=window.name,
            start_s=window.begin.t_s,
            duration_s=duration_s,
            energy_j=energy_j,
            provenance={c: m.provenance for c, m in self.meters.items()},
            faults=(*faults, *self._resolution_notes(energy_j, duration_s, window.begin, end)),
        )

    def now_s(self) -> float:
        """The monitor's clock (monotonic seconds; a test's own where it gave one)."""
        return self._clock()

    def update_period_s(self) -> float:
        """The slowest of the meters' update periods (``Meter.update_period_s``)."""
        return max(m.update_period_s() for m in self.meters.values())

    def _resolution_notes(
        self, energy_j: Mapping[str, float], duration_s: float, begin: Snapshot, end: Snapshot
    ) -> list[str]:
        notes = []
        for c, meter in self.meters.items():
            period_s = meter.update_period_s()
            if duration_s < RESOLUTION_FACTOR * period_s:
                off = min(1.0, period_s / max(duration_s, 1e-9))
                notes.append(
                    f"{c}: {energy_j[c]:.3g} J in {duration_s:.3g} s is below what the "
                    f"{meter.name} {RESOLUTION_WORDS} (its reading moves every {period_s:g} s: "
                    f"about {off:.0%} off, or more); not a precise figure, use a longer window"
                )
                continue
            # The coarser edge's: a figure cut at its begin (a child then read in clock ticks,
            # waited for by the end) carries that cut, whatever the end's processes are.
            edges = [e.resolution[c] for e in (begin, end) if c in e.resolution]
            resolution_j, reason = max(edges, default=(None, ""))
            if resolution_j is not None and energy_j[c] < RESOLUTION_FACTOR * resolution_j:
                notes.append(
                    f"{c}: {energy_j[c]:.3g} J in {duration_s:.3g} s is below what the "
                    f"{meter.name} {RESOLUTION_WORDS} ({resolution_j:.3g} J steps: "
                    f"{reason}); not a precise figure, use a longer window"
                )
        return notes

    @contextmanager
    def window(self, name: str) -> Iterator[Window]:
        window = self.begin(name)
        try:
            yield window
        finally:
            if name in self._open:
                self.end(name)

    # -- samples ---------------------------------------------------------------------------------
    def samples(self) -> list[Snapshot]:
        return list(self._samples)

    def trace(self) -> Trace:
        """The samples so far as a Trace (the same data a trace file holds)."""
        samples = self.samples()
        return Trace(
            header={
                "components": {c: m.provenance.to_dict() for c, m in self.meters.items()},
                "started_at_unix": self.started_at_unix,
            },
            t_s=[s.t_s for s in samples],
            energy_j={c: [s.energy_j[c] for s in samples] for c in self.meters},
        )

    # -- internals -------------------------------------------------------------------------------
    def _edge(self, rescan: str | None = None) -> Snapshot:
        """The meters read at a window's edge. ``rescan``, "begin" or "end" of a window (not the
        reads between, which may come every step): each meter looks afresh at what it measures
        first, outside the window (``Meter.rescan``), so a process started since the estimate's
        last listing (at most every second) is counted from the edge on."""
        if self.synchronize is not None:
            self.synchronize()
        for meter in self.meters.values() if rescan else ():
            meter.rescan(begin=rescan == "begin")
        # Asked before the read and after, the coarser kept: the sampler may change what it reads.
        before = self._resolutions()
        snapshot = self._snapshot()
        after = self._resolutions()
        coarser = {c: max(r for r in (before.get(c), after.get(c)) if r) for c in before | after}
        return replace(snapshot, resolution=coarser)

    def _resolutions(self) -> dict[str, tuple[float, str]]:
        """Each coarse meter's resolution now (an estimate's depends on the processes it reads in
        clock ticks)."""
        resolutions = {}
        for c, meter in self.meters.items():
            resolution_j = meter.resolution_j()
            if resolution_j is not None:
                resolutions[c] = (resolution_j, meter.resolution_reason())
        return resolutions

    def _snapshot(self) -> Snapshot:
        t_s = self._clock() - (self._t0_s or 0.0)
        energy_j = {c: m.energy_j() for c, m in self.meters.items()}
        return Snapshot(t_s, energy_j, self._collect_faults())

    def _collect_faults(self, extra: str | None = None) -> int:
        """Move the meters' new faults (and ``extra``) into the log; the number noted so far. The
        log keeps the first MAX_FAULTS_LISTED word for word and counts the rest."""
        with self._log_lock:
            for c, meter in self.meters.items():
                count = meter.fault_count
                if count > self._faults_seen[c]:
                    kept = meter.faults_between(self._faults_seen[c], count)
                    for fault in kept:
                        self._note(f"{c}: {fault}")
                    self._fault_total += count - self._faults_seen[c] - len(kept)
                    self._faults_seen[c] = count
            if extra is not None:
                self._note(extra)
            return self._fault_total

    def _note(self, fault: str) -> None:
        if self._fault_total == len(self._fault_log) < MAX_FAULTS_LISTED:
            self._fault_log.append(fault)
        self._fault_total += 1

    def faults(self) -> list[str]:
        """Every fault this monitor has noted, in order."""
        with self._log_lock:
            return list(self._fault_log)

    def _record(self, snapshot: Snapshot) -> None:
        self._samples.append(snapshot)
        if self._writer is not None:
            self._writer.write(snapshot.t_s, snapshot.energy_j)

    def _sample_loop(self) -> None:
        next_s = self._clock() + self.interval_s
        errors = 0
        while not self._stop.wait(max(0.0, next_s - self._clock())):
            try:
                self._record(self._snapshot())
                errors = 0
            except BaseException as exc:  # noqa: BLE001 - noted; raised at a window end if it stays
                errors += 1
                if errors >= MAX_SAMPLER_ERRORS:
                    self._fault = exc
                    return
                if errors == 1:
                    t_s = self._clock() - (self._t0_s or 0.0)
                    self._collect_faults(
                        f"sampler: a read failed at {t_s:.3f} s ({exc}); the figures around it "
                        "span a longer interval"
                    )
            next_s = max(next_s + self.interval_s, self._clock())

    def _raise_fault(self) -> None:
        if self._fault is not None:
            fault, self._fault = self._fault, None
            if isinstance(fault, PowertrainError):
                raise fault
            raise MeterError(f"the sampler stopped: {fault}") from fault


def below_resolution(fault: str) -> bool:
    """Whether ``fault`` (of a window, or of a run's outcome) is the note that its figure is below
    what the meter resolves well: its error may pass 1 in 10."""
    return RESOLUTION_WORDS in fault
