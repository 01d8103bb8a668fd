"""What ``track(..., log_to=..., trial=...)`` adds to a tracked run, kept out of the run itself:

- ``log_to``: the tools that get a copy of the run (``powertrain.loggers``);
- ``trial``: a sweep's trial: an Optuna trial (``integrations.optuna``) or ``"ray"`` for Ray Tune
  (``integrations.ray_tune``), told of every evaluation and asked whether to prune.

The run's store is wrapped (``loggers.observe``) so they hear what the store records; the trial's
handler joins the stopping handlers; a pruned run raises the tool's exception from ``evaluate`` once it
is recorded, and that exception ends the run censored, not failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.loggers import loggers
from powertrain.loggers.observe import Observers, observed
from powertrain.pruning import Pruned, TrialHook
from powertrain.train.stopping import Stop


class RunHooks:
    """The observers and extra stopping handler of one tracked run."""

    def __init__(self, observers: Observers, trial: TrialHook | None = None) -> None:
        self.observers, self.trial = observers, trial
        self._pruned: Pruned | None = None
        self.raised: BaseException | None = None

    @classmethod
    def make(
        cls, log_to: str | Iterable[str] | None, trial: Any, targets: Mapping[str, float]
    ) -> RunHooks:
        hook = trial_hook(trial, targets)
        fanout = loggers(log_to, "log_to")
        observers = [o for o in (fanout, hook) if o]
        return cls(Observers(observers), hook)

    @property
    def handlers(self) -> list:
        return [] if self.trial is None else [self._ask_trial]

    def _ask_trial(self, point) -> Stop | None:
        stop = self.trial(point)
        if isinstance(stop, Pruned):
            self._pruned = stop
        return stop

    def retries_failed(self, store: Any, study: str, run_key: str) -> bool:
        """Whether the sweep tool retries a failed attempt of this run (``TrialHook``)."""
        return self.trial is not None and self.trial.retries_failed(store, study, run_key)

    def observe(self, store: Any) -> Any:
        """The store the run writes to, observed."""
        return observed(store, self.observers)

    def raise_pruned(self) -> None:
        """After the handlers: the tool's exception, once, when its pruner stopped the run."""
        pruned, self._pruned = self._pruned, None
        if pruned is not None:
            self.raised = pruned.error
            raise pruned.error

    def pruned_by(self, exc: BaseException | None) -> bool:
        """Whether ``exc`` is the pruning raised here (the run then ends as its handler decided)."""
        return exc is not None and exc is self.raised

    def close(self) -> None:
        self.observers.close()


def trial_hook(trial: Any, targets: Mapping[str, float]) -> TrialHook | None:
    """The hook for ``trial``: None, an Optuna trial, or ``"ray"`` (a Ray Tune session)."""
    if trial is None:
        return None
    if isinstance(trial, str) and trial == "ray":  # not ==: an array's == is an array
        from powertrain.integrations.ray_tune import TuneReport

        return TuneReport(dict(targets))
    if type(trial).__module__.startswith("optuna."):
        from powertrain.integrations.optuna import OptunaTrial

        return OptunaTrial(trial)
    raise PowertrainError(
        f"trial must be an Optuna trial or 'ray' (inside a Ray Tune trainable), got "
        f"{type(trial).__name__}"
    )
