"""Energy-aware search: strategies that find the efficient setup without paying for the whole grid,
their replay on finished studies, early prediction of energy-to-target, and import of results recorded
elsewhere.

One piece of decision logic serves replay and (later) live search: a :class:`Strategy` says which
(setup, seed) to start next (``next_runs``) and when to stop a running one (``stop_reason``); a driver
(:func:`powertrain.search.driver.run_search`) feeds it runs, from stored curves in replay or from real
training in a live executor.
"""

from powertrain.search.space import History, Space, Start, Trial
from powertrain.search.strategies import STRATEGIES, Strategy, make_strategy

__all__ = ["STRATEGIES", "History", "Space", "Start", "Strategy", "Trial", "make_strategy"]
