"""Optuna: prune a study's trials by energy, with the search strategies' rule.

    study = optuna.create_study(pruner=EnergyPruner(beta=1.0))

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        with powertrain.track("sweep", setup={"lr": lr}, target=0.9, trial=trial) as run:
            for epoch in range(20):
                train_one_epoch(lr)
                if run.evaluate(val_accuracy=evaluate(), step=epoch):  # raises TrialPruned when pruned
                    break
        return run.outcome.energy_to_target_j or float("inf")

``track(..., trial=trial)`` reports every evaluation to the trial (as the intermediate value, in the
study's direction, which Optuna's pruners compare in: the validation error, 1 - accuracy, in a study
that minimizes, energy say; the accuracy in one that maximizes; ``powertrain_intermediate_value``
says which), its cumulative energy in the user attribute ``powertrain_energy_j``, and whether that energy is
measured or an estimate in ``powertrain_measurement``), asks the study's pruner,
and, when it says prune, ends the run censored in the store with the pruner's reason, then raises
``optuna.TrialPruned``. When the run ends the trial gets ``powertrain_status`` and, if it reached the
target, ``powertrain_energy_to_target_j``: what the pruner compares against. Any Optuna pruner works
(a ``MedianPruner`` prunes the least accurate); ``EnergyPruner`` prunes by energy. A study of several
objectives (energy against accuracy) is tracked the same, without intermediate values or pruning,
which Optuna has only for one objective.

Trials tracked at once in one process (``study.optimize(n_jobs=2)``) each read the meters of the
whole process and its devices, so each one's energy counts the others' too: such a trial holds
``powertrain_overlapping_runs`` (what overlapped), and one warning says to run trials in processes
of their own (``n_jobs=1`` in several processes sharing the study's storage).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import BaseTrial, FrozenTrial, TrialState

from powertrain.errors import PowertrainError
from powertrain.loggers.base import RunInfo, nodes_tags, outcome_tags
from powertrain.meters.base import measurement_label
from powertrain.pruning import Curve, EnergyRule, Pruned, TrialHook
from powertrain.records import EvalPoint, RunOutcome, Verdict
from powertrain.train.stopping import Stop

ENERGY_ATTR = "powertrain_energy_j"  # [[step, cumulative J], ...]
TO_TARGET_ATTR = "powertrain_energy_to_target_j"
MEASUREMENT_ATTR = "powertrain_measurement"  # "measured" or "ESTIMATE (...)"
LIVE = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
INTERMEDIATE_ATTR = "powertrain_intermediate_value"  # what the trial's intermediate values are
OVERLAP_ATTR = "powertrain_overlapping_runs"  # set on a trial tracked beside others in its process

log = logging.getLogger(__name__)


class EnergyPruner(BasePruner):
    """Prunes a trial once its energy passes ``beta`` x the best energy-to-target of the study's
    trials so far; with ``rungs=True`` also by halving's rungs of energy (see ``powertrain.pruning``);
    with ``also=`` another pruner (a ``MedianPruner``), also whenever that one prunes (an Optuna
    study has one pruner: this is how both work together). Trials that never report energy (not
    tracked by powertrain) are pruned by ``also`` alone."""

    def __init__(
        self,
        beta: float = 1.0,
        *,
        rungs: bool = False,
        eta: float = 3.0,
        min_budget_j: float | None = None,
        also: BasePruner | None = None,
    ) -> None:
        self.rule = EnergyRule(beta, rungs, eta, min_budget_j)
        self.also = _other_pruner(also, self)
        self.stops: dict[int, Stop] = {}  # trial number -> why it was pruned

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        stop = self.stop(study, trial)
        if stop is None and self.also is not None and self.also.prune(study, trial):
            name = type(self.also).__name__
            stop = Stop(Verdict.HANDLER, f"pruned by Optuna's {name} at step {trial.last_step}")
        if stop is not None:
            self.stops[trial.number] = stop
        return stop is not None

    def stop(self, study: optuna.Study, trial: FrozenTrial) -> Stop | None:
        """Why ``trial`` is pruned now, or None."""
        minimize = study.direction == StudyDirection.MINIMIZE
        curve = _curve(trial, minimize)
        others = [
            t for t in study.get_trials(deepcopy=False, states=LIVE) if t.number != trial.number
        ]
        reached = [t.user_attrs[TO_TARGET_ATTR] for t in others if TO_TARGET_ATTR in t.user_attrs]
        best_j = min(reached) if reached else None
        courses = [(_curve(t, minimize), TO_TARGET_ATTR in t.user_attrs) for t in others]
        return self.rule.stop(curve, best_j, courses)


def _other_pruner(also: object, pruner: EnergyPruner) -> BasePruner | None:
    """``also``: None or one Optuna pruner (an instance) other than ``pruner``, checked when the
    pruner is made rather than at a trial's first report, deep inside ``study.optimize``."""
    if also is None:
        return None
    if not isinstance(also, BasePruner):
        made = " (a class: make one, MedianPruner())" if isinstance(also, type) else ""
        raise PowertrainError(
            f"EnergyPruner(also=...) takes one Optuna pruner, e.g. also=optuna.pruners."
            f"MedianPruner(), got {type(also).__name__}{made}"
        )
    inner = also
    while isinstance(inner, EnergyPruner):  # also=itself, or a chain back to it: never ends
        if inner is pruner:
            raise PowertrainError("EnergyPruner(also=...) cannot be the pruner itself")
        inner = inner.also
    return also


def _curve(trial: FrozenTrial, minimize: bool) -> Curve:
    """(energy, accuracy) at each step; a minimizing study's intermediate values are 1 - accuracy."""
    told = trial.intermediate_values
    energy = trial.user_attrs.get(ENERGY_ATTR, [])
    return [(e, 1 - told[s] if minimize else told[s]) for s, e in energy if s in told]


class OptunaTrial(TrialHook):
    """``track(..., trial=trial)`` with an Optuna trial (see the module's doc)."""

    def __init__(self, trial: optuna.Trial) -> None:
        if not isinstance(trial, BaseTrial):  # a Study, say: its hook would fail every later one
            raise PowertrainError(
                "track(..., trial=...) takes the trial Optuna passes to your objective "
                f"(def objective(trial): ...), got an optuna {type(trial).__name__}"
            )
        self.trial = trial
        self.energy: list[list[float]] = []
        # several objectives (energy against accuracy): Optuna takes no intermediate value, prunes
        # none; a FixedTrial (re-running the best params) or a FrozenTrial has no study to prune it
        study = getattr(trial, "study", None)
        self.prunable = study is not None and len(study.directions) == 1
        # Optuna's pruners compare intermediate values in the study's direction: a study minimizing
        # (energy) is told the validation error, so that a MedianPruner prunes the least accurate
        self.minimize = self.prunable and study.direction == StudyDirection.MINIMIZE
        if self.prunable and not self.minimize:
            _refuse_maximized_energy(study)

    def run_begun(self, info: RunInfo) -> None:
        _Overlaps.begun(self)
        self.trial.set_user_attr("powertrain_run_id", info.run_id)
        self.trial.set_user_attr("powertrain_run_key", info.run_key)
        self.trial.set_user_attr("powertrain_study", info.study)
        self.trial.set_user_attr(MEASUREMENT_ATTR, measurement_label(info.provenance))
        if self.prunable:
            self.trial.set_user_attr(
                INTERMEDIATE_ATTR,
                "1 - validation accuracy (the study minimizes; Optuna's pruners compare in its "
                "direction)"
                if self.minimize
                else "validation accuracy",
            )

    def run_nodes(self, run_id: int, nodes: list[dict]) -> None:
        """Some node estimated: the trial says the energy it reports is an estimate from now on."""
        if "powertrain.measurement" in (tags := nodes_tags(nodes)):
            self.trial.set_user_attr(MEASUREMENT_ATTR, tags["powertrain.measurement"])

    def eval_point(self, run_id: int, point: EvalPoint) -> None:
        if self.prunable:
            told = 1 - point.val_accuracy if self.minimize else point.val_accuracy
            self.trial.report(told, point.step)
        self.energy.append([point.step, point.total_energy_j])
        self.trial.set_user_attr(ENERGY_ATTR, self.energy)

    def __call__(self, point: EvalPoint) -> Stop | None:
        if not self.prunable or not self.trial.should_prune():
            return None
        pruner = self.trial.study.pruner
        stop = getattr(pruner, "stops", {}).get(self.trial.number) or Stop(
            Verdict.HANDLER, f"pruned by Optuna's {type(pruner).__name__} at step {point.step}"
        )
        reason = f"optuna trial {self.trial.number}: {stop.reason}"
        return Pruned(stop.verdict, reason, optuna.TrialPruned(reason))

    def close(self) -> None:
        _Overlaps.ended(self)

    def run_finished(self, run_id: int, outcome: RunOutcome) -> None:
        _Overlaps.ended(self)
        self.trial.set_user_attr("powertrain_status", str(outcome.status.value))
        if "powertrain.measurement" in (tags := outcome_tags(outcome)):  # a node estimated
            self.trial.set_user_attr(MEASUREMENT_ATTR, tags["powertrain.measurement"])
        if outcome.energy_to_target_j is not None:
            self.trial.set_user_attr(TO_TARGET_ATTR, outcome.energy_to_target_j)


def _refuse_maximized_energy(study: optuna.Study) -> None:
    """A study that maximizes, whose finished trials returned their energy-to-target: it would
    look for the setup that needs the most energy (``create_study()`` without ``direction=...``
    minimizes). Refused as the next trial begins, before it trains."""
    for done in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        energy_j = done.user_attrs.get(TO_TARGET_ATTR)
        if energy_j is not None and done.value == energy_j:
            raise PowertrainError(
                f"optuna study {study.study_name!r} maximizes, but trial {done.number} returned "
                f"its energy-to-target ({energy_j:.4g} J): the study would look for the setup "
                "that needs the most energy. Create it with direction='minimize' (or return "
                "what you mean to maximize)"
            )


class _Overlaps:
    """The Optuna trials tracked in this process now: beside another, a trial's meters (the whole
    process's, its devices') count the other's work too. Held weakly: a hook whose run never
    ended (its process went on without it) drops out once it is gone, rather than being taken for
    a trial under way beside every later one."""

    lock = threading.Lock()
    running: weakref.WeakSet[OptunaTrial] = weakref.WeakSet()
    warned = False

    @classmethod
    def begun(cls, hook: OptunaTrial) -> None:
        with cls.lock:
            cls.running.add(hook)
            overlapping = sorted(cls.running, key=lambda h: h.trial.number)
            warn = len(overlapping) > 1 and not cls.warned
            cls.warned = cls.warned or warn
        if len(overlapping) < 2:
            return
        numbers = ", ".join(str(h.trial.number) for h in overlapping)
        said = f"tracked at once with trials {numbers} in one process: each run's energy counts "
        for other in overlapping:
            with contextlib.suppress(Exception):  # that trial ended meanwhile: it was told before
                other.trial.set_user_attr(OVERLAP_ATTR, said + "the others' too")
        if warn:
            log.warning(
                "powertrain: optuna trials %s are tracked at once in this process "
                "(study.optimize(n_jobs=...)): each run's meters read the whole process and its "
                "devices, so each trial's energy counts the others' too. Run one trial at a time "
                "per process (n_jobs=1, several processes sharing the study's storage)",
                numbers,
            )

    @classmethod
    def ended(cls, hook: OptunaTrial) -> None:
        with cls.lock:
            cls.running.discard(hook)
