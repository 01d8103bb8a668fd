"""A tracked run's end that the results store refused: kept, and said once, never raised into the
user's script (``refused_end``)."""

from __future__ import annotations

import contextlib
import logging

from powertrain.errors import PowertrainError
from powertrain.tracking.pending import keep_beside

log = logging.getLogger(__name__)


def refused_end(run, timeline: dict, error: Exception) -> None:
    """The store refused ``run``'s end (a full disk, a lost server, a run another process took over):
    the training is over and its outcome made, so nothing is raised into the user's script (which
    may save its model after the block, or go on to the next run). The outcome is kept, as refused
    points are (``unrecorded``): the whole run in a store beside the file (``pending.keep_beside``,
    whose warning names it and the command that merges it back), and the run's loggers told; said
    once. Where it cannot be kept either (an in-memory store, the disk beside it full), the warning
    gives its figures, and the run stays unfinished in the store (begun afresh next time)."""
    said = (
        f"the results store refused the end of run {run.run_id} ({type(error).__name__}: {error})"
    )
    store = run.store
    try:
        if getattr(store, "path", None) is None and not getattr(store, "shared_by_hosts", False):
            raise PowertrainError("it has no file to keep it beside")
        keep_beside(store, run._waiting.begun, run.outcome, timeline, run, said)
    except Exception as again:
        o, tried = run.outcome, str(again) in said  # the store's own try said so already
        log.warning(
            "%s%s. The run is not recorded (it stays unfinished in the store, begun afresh next "
            "time): %s after %d evaluations, %.1f J%s",
            said,
            "" if tried else f"; it could not be kept beside it either ({again})",
            o.status.value,
            len(run.points),
            o.total_energy_j,
            " (an ESTIMATE)" if run.estimated else "",
        )
        return
    tell = getattr(store, "tell_finished", None)  # an observed store's loggers
    if tell is not None:
        with contextlib.suppress(Exception):
            tell(run.run_id, run.outcome)
