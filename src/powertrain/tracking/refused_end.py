"""A tracked run's end that the results store refused: never raised into the user's script
(``refused_end``)."""

from __future__ import annotations

import contextlib
import logging

from powertrain.store.pending import NotKept

log = logging.getLogger(__name__)


def refused_end(run, timeline: dict, error: Exception) -> None:
    """The store refused ``run``'s end: the training is over and its outcome made, so nothing is
    raised into the user's script (which may save its model after the block, or go on to the next
    run). The refusals a store's own trouble makes (a lock, a full disk, a lost server: ``pending``)
    were kept beside it already where they could be, and ``error`` is ``NotKept``; any other (a run
    another process took over) is kept beside it here. Where it cannot be kept, the warning, said
    once, gives what it measured, and the loggers still hear the outcome."""
    if not isinstance(error, NotKept):
        try:
            run._waiting.keep(run.store, run.run_id, run.outcome, timeline, run, error)
            return
        except NotKept as not_kept:
            error = not_kept
        except Exception as again:  # a fault of the keeping itself: still not the script's to meet
            o = run.outcome
            error = (
                f"{error}; it could not be kept beside the store either ({again}): the run is not "
                f"recorded. What it measured: {o.status.value}, {o.total_energy_j:.1f} J"
                f"{' (an ESTIMATE)' if run.estimated else ''} over {len(run.points)} evaluations"
            )
    log.warning("the results store refused the end of run %s: %s", run.run_id, error)
    tell = getattr(run.store, "tell_finished", None)  # an observed store's loggers
    if tell is not None:
        with contextlib.suppress(Exception):
            tell(run.run_id, run.outcome)
