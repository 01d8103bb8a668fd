"""Ray Tune: stop a sweep's trials by energy, with the search strategies' rule.

    def trainable(config):
        with powertrain.track("sweep", setup=config, db=DB, target=0.9, trial="ray") as run:
            for epoch in range(20):
                train_one_epoch(config)
                if run.evaluate(val_accuracy=evaluate(), step=epoch):
                    break

    tuner = tune.Tuner(trainable, param_space={"lr": tune.grid_search([0.01, 0.1])},
                       run_config=tune.RunConfig(stop=EnergyStopper(db=DB, beta=1.0)))

``track(..., trial="ray")`` reports every evaluation with ``ray.tune.report``: ``val_accuracy``,
``energy_j`` and ``energy_j/<component>`` (cumulative), ``elapsed_s``, ``step``, the run's id and key
in the store, ``powertrain_measurement`` (``measured`` or ``ESTIMATE (...)``), and ``energy_to_target_j`` at the evaluation that reached the target.
A trial Tune retries after a failure (``FailureConfig(max_failures=...)``, or a restored experiment's
errored trial) tracks its run again: the failed attempt (noted in the trial's folder) is replaced in
the store, as a restarted torchrun launch's is, and its joules go on in the retry's reports as
``powertrain_failed_attempts_j`` with their own ``powertrain_failed_attempts_measurement``; the
retry's ``energy_j`` is its own attempt's, from 0 J. The run in the store counts them, as a
restart's (``tracking/attempts.py``): its energy is what the run spent, the retry included. ``EnergyStopper``
reads them on the driver and stops a trial by ``pruning.EnergyRule``. Tune ends a stopped
trial's process without letting it finish, so the stopper itself records the verdict: the run is
finished in the store (``db``: the store ``track`` writes to) as censored, with the stopper's reason
and the figures of its last stored evaluation. A store that fails there (locked, unwritable, a
PostgreSQL server gone) never fails ``tuner.fit()``: one warning, the trial is stopped all the same,
and the stop is kept (``unrecorded``) and written once the store answers again: at the next stop, at a
later report (every ``retry_s`` at most), at the latest when the tuning process exits, where a stop
still refused is named in a warning; the trial's own points stay in the store as they were.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import numbers
import os
import time
from pathlib import Path
from typing import Any

from ray.tune import Stopper

from powertrain.errors import PowertrainError
from powertrain.loggers.base import RunInfo, nodes_tags, point_metrics
from powertrain.meters.base import measurement_label
from powertrain.pruning import EnergyRule, TrialHook
from powertrain.records import CENSORED, EvalPoint, RunOutcome
from powertrain.store.base import ResultStore
from powertrain.tracking import attempts
from powertrain.train.stopping import Stop, TargetReached

log = logging.getLogger(__name__)

RETRY_S = 30.0  # the least time between tries of a refusing store on plain reports (each may wait)


class TuneReport(TrialHook):
    """``track(..., trial="ray")``: every evaluation point reported to the Tune session."""

    def __init__(self, targets: dict[str, float]) -> None:
        self.target = TargetReached(targets)
        self.ids: dict[str, Any] = {}
        self.reached = False
        self.failed: dict[str, Any] = {}  # the failed attempts this retry replaced, if any

    def retries_failed(self, store: Any, study: str, run_key: str) -> bool:
        """Whether the run this trial's last attempt began (its folder's note) failed: Tune retries
        it. Its joules, with those it carried, go on in this attempt's reports. Asked as the run
        begins, before anything trains: a store in the trial's own folder is refused here."""
        _refuse_store_in_trial_folder(store)
        note = _read_note(_note_path(study, run_key))
        runs = store.runs(study) if note else []
        run = next((r for r in runs if r.id == note.get("run_id") and r.run_key == run_key), None)
        failed = attempts.failed_record(store, run) if run is not None else None  # or kept beside
        if failed is None:
            return False
        joules = float(note.get("failed_attempts_j", 0.0)) + failed.outcome.total_energy_j
        labels = {measurement_label(failed.provenance), note.get("failed_attempts_measurement")}
        estimated = sorted(label for label in labels if label and label.startswith("ESTIMATE"))
        self.failed = {
            "powertrain_failed_attempts_j": joules,
            "powertrain_failed_attempts_measurement": (estimated or ["measured"])[0],
        }
        log.warning(
            "powertrain: Ray Tune retries a failed trial: run %s of study %r (%.4g J, %s) is "
            "replaced in the store by this attempt; its joules go on in the trial's reports as "
            "powertrain_failed_attempts_j",
            run.id,
            study,
            failed.outcome.total_energy_j,
            measurement_label(failed.provenance),
        )
        return True

    def run_begun(self, info: RunInfo) -> None:
        self.ids = {
            "powertrain_run_id": info.run_id,
            "powertrain_run_key": info.run_key,
            "powertrain_study": info.study,
            "powertrain_measurement": measurement_label(info.provenance),  # or ESTIMATE (...)
            **self.failed,
        }
        note = {
            "run_id": info.run_id,
            **{k[len("powertrain_") :]: v for k, v in self.failed.items()},
        }
        _write_note(_note_path(info.study, info.run_key), note)

    def run_nodes(self, run_id: int, nodes: list[dict[str, Any]]) -> None:
        """Some node estimated: this report and the next ones say the job's figures are estimates."""
        self.ids.update(
            {k.replace(".", "_"): v for k, v in nodes_tags(nodes).items() if "measurement" in k}
        )

    def eval_point(self, run_id: int, point: EvalPoint) -> None:
        from ray import tune

        metrics: dict[str, Any] = {**point_metrics(point), "step": point.step, **self.ids}
        if not self.reached and self.target.reached(point.task_accuracies):
            self.reached = True
            metrics["energy_to_target_j"] = point.total_energy_j
        tune.report(metrics)


def _trial_dir() -> str | None:
    """The Tune trial's folder; None outside a Tune session."""
    try:
        from ray import tune

        return tune.get_context().get_trial_dir() or None
    except Exception:  # noqa: BLE001 - not in a Tune session (or a Ray without one)
        return None


def _refuse_store_in_trial_folder(store: Any) -> None:
    """A SQLite store named by a relative path, in a Tune trial: Tune runs each trial in a working
    folder of its own (unless ``RAY_CHDIR_TO_TRIAL_DIR=0``), so each trial would write a store of its
    own in Ray's session folder, one the driver's ``EnergyStopper`` and the user never find."""
    path = getattr(store, "path", None)
    if path is None or str(path) == ":memory:" or Path(path).is_absolute():
        return
    if os.environ.get("RAY_CHDIR_TO_TRIAL_DIR", "1") == "0" or _trial_dir() is None:
        return
    raise PowertrainError(
        f"track(db={str(path)!r}) in a Ray Tune trainable: a relative path, and Tune runs each "
        f"trial in a folder of its own ({os.getcwd()}), so each trial would write a store of its "
        "own there, which EnergyStopper and your reports never read. Give an absolute path "
        "(DB = str(Path('runs.db').resolve()) on the driver, passed to track and EnergyStopper), "
        "or set POWERTRAIN_DB to one"
    )


def _note_path(study: str, run_key: str) -> Path | None:
    """Where the trial's folder notes the run its attempt began (None outside a Tune trial): the
    folder outlives an attempt, so a retry finds it."""
    folder = _trial_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(f"{study}\0{run_key}".encode()).hexdigest()[:16]
    return Path(folder) / f".powertrain-run-{digest}.json"


def _read_note(path: Path | None) -> dict[str, Any]:
    try:
        note = json.loads(path.read_text()) if path is not None else {}
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}


def _write_note(path: Path | None, note: dict[str, Any]) -> None:
    try:
        if path is not None:
            path.write_text(json.dumps(note))
    except OSError:  # the note only spares a retry a refusal
        pass


class EnergyStopper(Stopper):
    """Stops a trial once its energy passes ``beta`` x the best energy-to-target of the trials so far
    (with ``rungs=True`` also by halving's rungs); records the stopped run in the store ``db``."""

    def __init__(
        self,
        db: Any,
        beta: float = 1.0,
        *,
        rungs: bool = False,
        eta: float = 3.0,
        min_budget_j: float | None = None,
    ) -> None:
        if db is not None and not isinstance(db, (str, os.PathLike, ResultStore)):
            raise PowertrainError(  # else only a warning at the first stop, deep in the tuning
                f"EnergyStopper(db=...) takes the store track() writes to: a path, a "
                f"postgresql:// URL or an open store, got {type(db).__name__}"
            )
        self.db = db
        self.rule = EnergyRule(beta, rungs, eta, min_budget_j)
        self.curves: dict[str, list[tuple[float, float]]] = {}
        self.to_target_j: dict[str, float] = {}
        self.reasons: dict[str, str] = {}  # trial id -> why it was stopped
        self.runs: dict[str, Any] = {}  # trial id -> the powertrain run its curve is of
        #: Stops the store refused, oldest first: written once it answers again (see the module doc).
        self.unrecorded: list[tuple[dict[str, Any], Stop]] = []
        self.retry_s = RETRY_S  # between tries on plain reports while a stop waits
        self._warned = False
        self._refused_at_s = 0.0  # time.monotonic() of the store's last refusal
        self._at_exit = False  # whether the exit hook is registered
        self._misreported: set[str] = set()  # trials warned about a report the rule cannot read

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if self.unrecorded and time.monotonic() - self._refused_at_s >= self.retry_s:
            self._record_unrecorded()  # no stop may follow the last one refused
        if "energy_j" not in result and "val_accuracy" not in result:
            return False  # not a powertrain report (one with only one of them is warned about)
        figures = self._figures(trial_id, result)
        if figures is None:
            return False  # a report of the trainable's own that cannot be judged: warned
        energy_j, accuracy, to_target_j = figures
        curve = self.curves.setdefault(trial_id, [])
        run = result.get("powertrain_run_id")
        if run != self.runs.setdefault(trial_id, run) or (curve and energy_j < curve[-1][0]):
            curve.clear()  # Tune restarted the trial: its run began again, from 0 J
            self.to_target_j.pop(trial_id, None)
            self.runs[trial_id] = run
        curve.append((energy_j, accuracy))
        if to_target_j is not None:
            self.to_target_j[trial_id] = to_target_j
            return False
        others = [t for t in self.curves if t != trial_id]
        best = min((self.to_target_j[t] for t in others if t in self.to_target_j), default=None)
        courses = [(self.curves[t], t in self.to_target_j) for t in others]
        stop = self.rule.stop(self.curves[trial_id], best, courses)
        if stop is None:
            return False
        self.reasons[trial_id] = stop.reason
        reason = f"ray tune trial {trial_id}: {stop.reason}"
        self.unrecorded.append((result, Stop(stop.verdict, reason)))
        self._record_unrecorded()
        return True

    def _figures(
        self, trial_id: str, result: dict[str, Any]
    ) -> tuple[float, float, float | None] | None:
        """A report's joules, accuracy and energy-to-target, or None (warned once a trial) where one
        is not a figure the rule can compare: a trainable's own report of a percentage, a None or a
        text would fail ``tuner.fit()`` (Tune ends it on its stopper's error) or judge it wrongly."""
        told = {k: result.get(k) for k in ("energy_j", "val_accuracy", "energy_to_target_j")}
        told = {k: v for k, v in told.items() if v is not None or k != "energy_to_target_j"}
        most = {"val_accuracy": 1.0}  # a percentage would always look ahead at a rung
        wrong = [
            f"{key}={value!r}" if key in result else f"no {key}"
            for key, value in told.items()
            if not (_real(value) and 0 <= value <= most.get(key, math.inf) and math.isfinite(value))
        ]
        if not wrong:
            to_target_j = told.get("energy_to_target_j")
            return (
                float(told["energy_j"]),
                float(told["val_accuracy"]),
                None if to_target_j is None else float(to_target_j),
            )
        if trial_id not in self._misreported:
            self._misreported.add(trial_id)
            log.warning(
                "EnergyStopper: trial %s reported %s; its reports are not judged (nor stopped) "
                "until they hold energy_j (joules >= 0) and val_accuracy (a fraction in [0, 1]), "
                "as track(..., trial='ray') reports them",
                trial_id,
                ", ".join(wrong),
            )
        return None

    def stop_all(self) -> bool:
        return False

    def _record_unrecorded(self) -> None:
        """Record the stops not yet in the store, in order; a store that fails keeps the rest for the
        next stop, and is warned about once: the tuning goes on (Tune fails the whole ``fit()`` on an
        error of its stopper)."""
        while self.unrecorded:
            result, stop = self.unrecorded[0]
            try:
                self._record(result, stop)
            except Exception as exc:  # noqa: BLE001 - the store's own error, said in one line
                self._refused_at_s = time.monotonic()
                if not self._at_exit:  # the last chance, when the tuning process ends
                    self._at_exit = True
                    atexit.register(self.record_at_exit)  # held: Tune may drop it before
                if not self._warned:
                    self._warned = True
                    from powertrain.store.location import mask_urls

                    log.warning(
                        "EnergyStopper: the results store %s failed (%s); the tuning goes on and "
                        "trials are still stopped by energy, but a stopped run stays unfinished in "
                        "the store, with every point it recorded, until the store answers again "
                        "(tried again at the next stop or report, and at exit)",
                        mask_urls(str(getattr(self.db, "path", self.db))),
                        mask_urls(f"{type(exc).__name__}: {exc}"),
                    )
                return
            self.unrecorded.pop(0)

    def record_at_exit(self) -> None:
        """The tuning process ends: the stops still unrecorded are tried once more; those the store
        still refuses are named (their runs stay unfinished in the store, with their points)."""
        if not self.unrecorded:
            return
        self._record_unrecorded()
        for result, stop in self.unrecorded:
            log.warning(
                "EnergyStopper: at exit, the results store still refused the stop of run %s of "
                "study %r (%s); it stays unfinished in the store, with every point it recorded",
                result.get("powertrain_run_id"),
                result.get("powertrain_study"),
                stop.reason,
            )

    def _record(self, result: dict[str, Any], stop: Stop) -> None:
        """Finish the stopped run in the store as censored (its process will not)."""
        if "powertrain_run_id" not in result:  # energy the trainable reported itself
            log.warning("EnergyStopper: %s has no powertrain run to record it in", stop.reason)
            return
        from powertrain.store.location import mask_url
        from powertrain.tracking.store import open_db

        try:
            run_id = int(result["powertrain_run_id"])
        except (TypeError, ValueError):  # the report's fault, not the store's: never retried
            log.warning(
                "EnergyStopper: %s reported run id %r, not a number; not recorded",
                stop.reason,
                result["powertrain_run_id"],
            )
            return
        store, owned = open_db(self.db)
        try:
            record = next(
                (r for r in store.runs(result.get("powertrain_study")) if r.id == run_id), None
            )
            if record is None or record.run_key != result.get("powertrain_run_key"):
                log.warning(
                    "EnergyStopper: run %s is not in %s; not recorded there",
                    run_id,
                    mask_url(str(self.db)),  # a PostgreSQL URL's password never in a log line
                )
                return
            store.finish_run(run_id, censored(store.eval_points(run_id), stop))
        finally:
            if owned:
                store.close()


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def censored(points: list[EvalPoint], stop: Stop) -> RunOutcome:
    """A run stopped from outside, as far as its stored evaluations go."""
    last = points[-1] if points else None
    return RunOutcome(
        status=CENSORED,
        stop_reason=stop.reason,
        verdict=stop.verdict,
        total_energy_j=last.total_energy_j if last else 0.0,
        energy_j=dict(last.energy_j) if last else {},
        duration_s=last.elapsed_s if last else 0.0,
        steps=last.step if last else 0,
        final_val_accuracy=last.val_accuracy if last else None,
        faults=["stopped by Ray Tune: the figures end at its last stored evaluation"],
    )
