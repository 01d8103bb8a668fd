"""Energy-aware search: strategies that find the efficient setup without paying for the whole grid,
their simulation on finished studies, early prediction of energy-to-target, and import of results recorded
elsewhere.

One piece of decision logic serves simulation and live search: a :class:`Strategy` says which
(setup, seed) to start next (``next_runs``) and when to stop a running one (``stop_reason``); a driver
(:func:`powertrain.search.driver.run_search`) feeds it runs, from stored curves in simulation
(``simulate.py``) or from real training (``live.py``: ``execute_run`` with the strategy's stop as a
stopping handler). ``run.search_study`` is ``powertrain run --strategy``; ``cost.py`` what a live search
cost; ``optuna_strategy.py`` the optuna strategy (simulated, and live over a grid), ``optuna_live.py``
its live search (sampled continuous or multi-objective spaces); ``report.py`` what the report shows;
``auto.py`` the recommended strategy; ``cost_axes.py`` axes priced instead of searched.
"""

from powertrain.search import auto  # noqa: F401  (registers the auto strategy)
from powertrain.search.space import History, Space, Start, Trial
from powertrain.search.strategies import STRATEGIES, make_strategy
from powertrain.search.strategy import Strategy

__all__ = ["STRATEGIES", "History", "Space", "Start", "Strategy", "Trial", "make_strategy"]
