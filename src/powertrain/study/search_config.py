"""The study's ``search:`` key: which strategy decides what runs next and when a run stops (see
``powertrain.search.live``), and its settings. Checked here, before anything trains; the strategy's
own settings (``beta``, ``eta``, ...) are checked by the strategy when the search starts, still before
any run.

```yaml
search:
  strategy: auto           # grid (every run: the default), auto, zeus, bound, halving, thompson, optuna
  beta: 1.5                # any other key is a setting of the strategy
  cost_axes: [num_workers] # axes that change a step's cost, not the curve: priced, not searched
                           # (gpu_power_limit_w is one without saying so)
  confirm_seeds: 3         # the pick confirmed on this many seeds
  predict_stop: {threshold: 0.05, min_evals: 4}   # off unless given
  # optuna only:
  trials: 20
  sampler: tpe             # or nsga2 (multi-objective)
  objectives: [energy]     # or [energy, accuracy]
  space:                   # besides the grid's lists, which are categorical choices
    learning_rate: {low: 0.001, high: 0.3, log: true}
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from powertrain.train.config import TrainConfig
from powertrain.typed import ConfigError, build, check, coerce

SAMPLERS = ("tpe", "nsga2")
OBJECTIVES = ("energy", "accuracy")


@dataclass(frozen=True)
class PredictStopConfig:
    """Stop a run once, after ``min_evals`` evaluations, its predicted probability of reaching the
    target falls below ``threshold``. Off unless given: it can stop runs that would have got there."""

    threshold: float = 0.05
    min_evals: int = 4


@dataclass(frozen=True)
class RangeConfig:
    """A continuous hyperparameter for optuna: uniform in [low, high], or log-uniform."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class SearchConfig:
    strategy: str = "grid"
    confirm_seeds: int = 3
    predict_stop: PredictStopConfig | None = None
    trials: int = 20
    sampler: str = "tpe"
    objectives: list[str] = field(default_factory=lambda: ["energy"])
    space: dict[str, RangeConfig] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # the strategy's own


def parse_search(data: Any, train: TrainConfig) -> SearchConfig | None:
    """``search:`` as typed settings (``train``: the study's hyperparameters, to check the space)."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"search: expected a mapping of keys, got {data!r}")
    known = {f.name for f in dataclasses.fields(SearchConfig)} - {"settings", "space"}
    settings = {k: v for k, v in data.items() if k not in known | {"settings", "space"}}
    settings.update(_own_settings(data.get("settings") or {}, settings))
    if "cost_axes" in settings:  # axes priced, not searched (cost_axes.py)
        settings["cost_axes"] = ",".join(cost_axis_names(settings["cost_axes"]))
    for key, value in settings.items():
        check(  # a strategy takes its settings as keywords: a number as a name was a TypeError
            isinstance(key, str),
            f"search.{key}",
            f"a strategy setting is named by text, got {key!r}; write its name (e.g. beta: 1.5)",
        )
        check(
            isinstance(value, int | float | str) and not isinstance(value, bool),
            f"search.{key}",
            f"a strategy setting must be a number or text, got {value!r}",
        )
    config = build(SearchConfig, {k: v for k, v in data.items() if k in known}, "search")
    config = dataclasses.replace(
        config, settings=settings, space=_space(data.get("space") or {}, train)
    )
    _validate(config)
    return config


def _own_settings(nested: Any, free: dict[str, Any]) -> dict[str, Any]:
    """``search.settings``: the strategy's settings written apart, none of them also a free key."""
    check(isinstance(nested, dict), "search.settings", f"expected a mapping, got {nested!r}")
    for key in nested:
        check(key not in free, f"search.settings.{key}", f"given twice (also as search.{key})")
    return nested


def cost_axis_names(value: Any, where: str = "search.cost_axes") -> list[str]:
    """Cost axes as names, from a list or text separated by commas (a ``--set`` value), each named
    once; ``where``: how the error names the setting."""
    names = value.split(",") if isinstance(value, str) else value
    check(
        isinstance(names, list | tuple) and all(isinstance(a, str) and a.strip() for a in names),
        where,
        f"a list of axis names (e.g. [gpu_power_limit_w]), got {value!r}",
    )
    names = [a.strip() for a in names]
    twice = sorted({a for a in names if names.count(a) > 1})
    check(not twice, where, f"names {', '.join(twice)} twice; name each axis once")
    return names


def check_cost_axes(config: SearchConfig | None, axes: list[str]) -> None:
    """The declared cost axes against the setups' ``axes`` (the grid's keys): an axis not among
    them would be priced nowhere, and its misspelt twin searched as an ordinary axis."""
    declared = (config.settings.get("cost_axes") or "") if config is not None else ""
    unknown = [a for a in declared.split(",") if a and a not in axes]
    check(
        not unknown,
        "search.cost_axes",
        f"{', '.join(unknown)} is not an axis of the grid; the grid's axes are "
        f"{', '.join(axes) or 'none'} (a cost axis is one the grid varies)",
    )


def _validate(c: SearchConfig) -> None:
    check(c.strategy.strip() != "", "search.strategy", "must name a strategy")
    check(1 <= c.confirm_seeds <= 100, "search.confirm_seeds", "must be from 1 to 100")
    check(1 <= c.trials <= 10_000, "search.trials", "must be from 1 to 10000")
    check(c.sampler in SAMPLERS, "search.sampler", f"must be one of {', '.join(SAMPLERS)}")
    check(
        bool(c.objectives)
        and set(c.objectives) <= set(OBJECTIVES)
        and len(set(c.objectives)) == len(c.objectives),
        "search.objectives",
        f"a list of {' and/or '.join(OBJECTIVES)}, each once",
    )
    p = c.predict_stop
    if p is not None:
        check(0 < p.threshold < 1, "search.predict_stop.threshold", "must be between 0 and 1")
        check(p.min_evals >= 1, "search.predict_stop.min_evals", "must be at least 1")


def _space(data: Any, train: TrainConfig) -> dict[str, RangeConfig]:
    check(isinstance(data, dict), "search.space", "expected a mapping of hyperparameters")
    types = get_type_hints(TrainConfig)
    space = {}
    for key, value in data.items():
        at = f"search.space.{key}"
        check(key in types, at, f"not a training hyperparameter; choose from {', '.join(types)}")
        r = build(RangeConfig, value, at)
        check(r.low < r.high, at, f"low ({r.low}) must be below high ({r.high})")
        check(not r.log or r.low > 0, at, "a log range needs low > 0")
        for end in (r.low, r.high):
            value = coerce(end, types[key], at)
            dataclasses.replace(train, **{key: value}).validate(key_path=lambda _, a=at: a)
        space[key] = r
    return space
