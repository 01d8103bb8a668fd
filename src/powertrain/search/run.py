"""``search_study``: run a study with a search strategy deciding what trains, the library function
behind ``powertrain run STUDY --strategy NAME`` (and the study's ``search:`` key).

- ``grid`` is today's ``run_study`` (every (setup, seed), each to its target or limits);
- ``zeus``, ``bound``, ``halving``, ``thompson``: the strategies of ``strategies.py``, driven live by
  ``live.py``;
- ``optuna``: Optuna's TPE (or NSGA-II over energy and accuracy) samples setups, ``optuna_live.py``.

Every search then reports its own cost (``cost.py``). ``search.predict_stop`` adds the predicted stop
to every run (off unless asked). A strategy decides each run from the ones before it, in one loop
(``driver.py``) over the executor's session: here one after another (the ``LocalExecutor``), up to N
at once on a ``WorkersExecutor`` (``--workers N``), or as Ray tasks as many as the cluster has room
for, their stops decided here, in the coordinator (``optuna`` asks Optuna for as many trials as the
session has room for; the grid's predicted stop goes the same way).
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from powertrain.errors import PowertrainError
from powertrain.records import REACHED, Stage
from powertrain.search.calibrate import MIN_RUNS, CalibratedMiss, calibration_runs
from powertrain.search.cost import search_cost
from powertrain.search.cost_axes import PRICING_SETTINGS, axes_setting, curve_key
from powertrain.search.live import LiveSearch, precision_notes, search_with_strategy
from powertrain.search.predict import PRIOR_C, LivePredictedMiss, shape_prior
from powertrain.search.settings import typed_settings
from powertrain.search.simulate import setup_key
from powertrain.search.strategies import STRATEGIES, make_strategy, strategy_class
from powertrain.store.base import ResultStore
from powertrain.study.executors.base import Executor, Stops
from powertrain.study.executors.local import LocalExecutor
from powertrain.study.plan import grid_done
from powertrain.study.resume import RunPlace, StudyPlace
from powertrain.study.runner import run_study
from powertrain.study.search_config import SearchConfig

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig

log = logging.getLogger(__name__)

LIVE = ("grid", *[s for s in STRATEGIES if s != "grid"])  # optuna among them


def search_config(study: StudyConfig, strategy: str | None = None) -> SearchConfig:
    """The study's ``search:`` settings, with ``strategy`` (the command line's) in place of its own;
    the file's strategy settings apply only when it names the same strategy. Its cost axes and
    price window stay for any strategy that prices (every one but optuna, which samples them)."""
    config = study.search or SearchConfig()
    if strategy is not None and strategy != config.strategy:
        pricing = {k: v for k, v in config.settings.items() if k in PRICING_SETTINGS}
        kept = {} if strategy == "optuna" else pricing
        if dropped := sorted(set(config.settings) - set(kept)):
            log.warning(
                "the study's search settings %s are for %s; %s runs with its own defaults (name it "
                "in the study file's search: to set its settings)",
                ", ".join(f"{k}={config.settings[k]}" for k in dropped),
                config.strategy,
                strategy,
            )
        config = dataclasses.replace(config, strategy=strategy, settings=kept)
    if config.strategy not in LIVE:
        raise PowertrainError(
            f"no search strategy named {config.strategy!r}; choose one of {', '.join(LIVE)}"
        )
    return config


def search_study(
    study: StudyConfig,
    store: ResultStore,
    *,
    strategy: str | None = None,
    reporter=None,
    retry_failed: bool = False,
    detection=None,
    artifacts_dir=None,
    seed: int = 0,
    allow_changed: bool = False,
    executor: Executor | None = None,
) -> LiveSearch:
    """Run ``study`` into ``store`` with its search strategy (``strategy`` overrides the file's).
    A study edited since its runs were stored is refused, or run as ``NAME@2`` with ``allow_changed``
    (as ``run_study`` does). ``executor``: where the runs execute (default: a ``LocalExecutor``, here,
    one after another), a ``WorkersExecutor`` (its workers' runs at once) or a ``RayExecutor``."""
    from powertrain.study.versions import study_version

    study, _ = study_version(store, study, allow_changed)
    config = search_config(study, strategy)
    study = dataclasses.replace(study, search=config)
    check_supported(study, config)
    place, executor = _environment(study, store, executor, detection, artifacts_dir)
    stops = predicted_stops(study, store, config)
    if config.strategy == "grid":
        grid = _grid(study, store, reporter, retry_failed, executor, stops, place.artifacts_dir)
        return dataclasses.replace(grid, study=study.name)
    store.save_study(study.name, study.to_dict())
    if reporter is not None:
        total = len(study.runs())
        reporter.study_started(study, total, total)
    options = {"stops": stops, "reporter": reporter, "seed": seed}
    if config.strategy == "optuna":
        from powertrain.search.optuna_live import search_with_optuna

        live = search_with_optuna(study, store, place, config, executor, **options)
    else:
        live = search_with_strategy(study, store, place, config, executor, **options)
    return dataclasses.replace(live, study=study.name)


def _environment(
    study: StudyConfig, store: ResultStore, executor: Executor | None, detection, artifacts_dir
) -> tuple[RunPlace, Executor]:
    """Where the search's runs are, and the executor prepared: the local executor's own run
    environment (its runs train here, so its meters, data and GPUs, NVML where power limits are
    set, are opened once); for another executor's runs, which open theirs where they execute,
    only the study and its artifacts folder, where the search finds and removes checkpoints."""
    artifacts = Path(artifacts_dir or store.artifacts_dir)
    if executor is None:
        executor = LocalExecutor(detection=detection, artifacts_dir=artifacts)
    executor.prepare(study, artifacts)  # a bad device fails now; checkpoints where we look
    if isinstance(executor, LocalExecutor):
        return executor.env, executor
    return StudyPlace(study, artifacts), executor


def check_supported(study: StudyConfig, config: SearchConfig) -> None:
    """Every executor takes every strategy (the loop asks as many runs as its session has room
    for, and decides their stops here); what a study's task cannot take is refused here."""
    if config.strategy == "optuna":
        typed_settings(config.strategy, strategy_class(config.strategy), config.settings)
    elif config.strategy != "grid":  # their values (cost_axes, price_window too), before any run
        make_strategy(config.strategy, **config.settings)
    else:  # none of its own: a strategy's setting under grid would be ignored
        own = {k: v for k, v in config.settings.items() if k not in PRICING_SETTINGS}
        typed_settings(config.strategy, strategy_class(config.strategy), own)
    needs_handlers = config.strategy != "grid" or config.predict_stop is not None
    if study.task.command and needs_handlers:
        raise PowertrainError(
            f"search strategy {config.strategy} (or predict_stop) needs the built-in training loop;"
            " a command task decides itself when to stop: use strategy grid"
        )
    if config.strategy != "grid" and any(
        s.train.paradigm.needs_pretraining for s in study.setups()
    ):
        raise PowertrainError(
            "a live search does not run a pretraining stage: run the study's grid (strategy grid)"
        )


def predicted_stops(study: StudyConfig, store: ResultStore, config: SearchConfig):
    """The stop-handler hook: with ``predict_stop``, a fresh predicted stop for every run (its shape
    prior from the study's finished curves); else none."""
    p = config.predict_stop
    if p is None or study.task.command:
        return lambda spec: ()
    finished = [r for r in store.runs(study.name) if r.status == REACHED and r.stage is Stage.TRAIN]
    prior_c = shape_prior([store.eval_points(r.id) for r in finished[:50]]) if finished else PRIOR_C
    target, epochs = study.task.target_accuracy, study.task.max_epochs
    ended = [  # runs that ended on their own: reached, or ran to their limits
        r
        for r in store.runs(study.name)
        if r.outcome is not None and r.stage is Stage.TRAIN and not r.outcome.verdict.by_search
    ]
    axes = axes_setting(config.settings.get("cost_axes", ()))
    curves = [curve_key(setup_key(r.setup), r.seed, axes) for r in ended]  # twins: one curve
    if len(set(curves)) >= MIN_RUNS:  # calibrated on them: it stops only where they tell it can
        runs = calibration_runs([store.eval_points(r.id) for r in ended], target, curves)
        return lambda spec: [
            CalibratedMiss(
                target, epochs, runs, p.threshold, min_evals=p.min_evals, prior_c=prior_c
            )
        ]
    return lambda spec: [LivePredictedMiss(target, epochs, p.threshold, p.min_evals, prior_c)]


def _grid(
    study: StudyConfig,
    store: ResultStore,
    reporter,
    retry_failed: bool,
    executor: Executor,
    stops: Stops,
    artifacts_dir: Path,
) -> LiveSearch:
    """Today's ``run``: every (setup, seed); its cost is every run it started (those a search had
    paused or stopped too: the grid runs them again, ``grid_done``), less what the pauses it
    continued had spent in that search (``carried_j``). A predicted stop (``stops``) is decided
    in the coordinator."""
    before = {r.run_key for r in store.runs(study.name) if grid_done(r, retry_failed)}
    result = run_study(  # its runs' checkpoints where the search kept its pauses'
        study,
        store,
        reporter=reporter,
        retry_failed=retry_failed,
        executor=executor,
        stops=stops,
        artifacts_dir=artifacts_dir,
    )
    keys = [study.run_key(s, seed) for s, seed in study.runs()]
    runs = {r.run_key: r for r in store.runs(study.name) if r.outcome is not None}
    means = {}
    for setup in study.setups():
        rs = [runs.get(study.run_key(setup, seed)) for seed in study.seeds]
        if all(r is not None and r.status == REACHED for r in rs):
            means[setup.label()] = statistics.fmean(r.outcome.energy_to_target_j for r in rs)
    started = [k for k in keys if k not in before]
    cost = search_cost(
        study,
        store,
        "grid",
        pick=min(means, key=means.get) if means else None,
        confirmed=bool(means),
        started_keys=started,
        reused_keys=[k for k in keys if k in before],
        notes=tuple(precision_notes(store, study.name, started)),  # as every strategy's search
        carried_j=result.carried_j,
    )
    return LiveSearch(cost, result=result)


def run_with_search(
    study: StudyConfig, store: ResultStore, *, strategy: str | None = None, **options
):
    """What ``powertrain run`` calls: ``run_study`` as ever when neither ``strategy`` nor the study's
    ``search:`` is given; else ``search_study``. ``(StudyResult, SearchCost or None)``."""
    from powertrain.study.result import StudyResult

    if strategy is None and study.search is None:
        return run_study(study, store, **options), None
    if options.pop("shard", None) is not None:
        raise PowertrainError(
            "--shard splits a study's runs between machines before anything runs, but a search"
            " decides which runs to start from the results of the ones before it, over the whole"
            " study: leave out --shard with --strategy or search: (--workers N runs N of the"
            " search's runs at once on this machine)"
        )
    live = search_study(study, store, strategy=strategy, **options)
    result = live.result or StudyResult(
        ran=live.cost.runs_started, skipped=live.cost.reused_runs, study=live.study
    )
    return result, live.cost
