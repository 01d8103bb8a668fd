"""Evaluation points the results store refused while the run went on (a locked or full database, a
lost server): the training is not ended for them (a recording failure never ends the user's job).
The first refusal is said once, as a warning; the points are kept and written again when the run
ends, and the run's record says which it still lacks (its faults), so that its stored curve is not
taken for the whole of it. The outcome itself is made from every point, kept in the process.
"""

from __future__ import annotations

import logging

from powertrain.records import EvalPoint
from powertrain.store.sqlite_guard import StoreLocked

log = logging.getLogger(__name__)


class Unrecorded:
    """The points of one run the store refused, and why (the first error)."""

    def __init__(self) -> None:
        self.points: list[EvalPoint] = []
        self.first_error: str | None = None
        self.refused = 0  # how many were refused at the time, written again later or not
        self.lacking: str | None = None  # the run's fault note saying which points it lacks

    def note(self, run, point: EvalPoint, error: Exception) -> None:
        """``point`` of ``run`` was refused by its store: kept, and said the first time."""
        self.points.append(point)
        self.refused += 1
        if self.first_error is not None:
            log.debug("evaluation %d not recorded either: %s", point.index + 1, error)
            return
        self.first_error = f"{type(error).__name__}: {error}"
        log.warning(
            "powertrain could not record evaluation %d of run %s of study %r in the results store "
            "(%s). "
            "Training goes on; the run's figures in the store are incomplete until the points "
            "are written again when the run ends, and its record will say what it lacks",
            point.index + 1,
            run.run_id,
            run.tracker.study,
            self.first_error,
        )

    def write_again(self, run, evaluations: int, waiting=None) -> list[str]:
        """At the end of ``run``: the refused points written again where the store takes them now;
        the notes for the run's faults (none where nothing was refused). ``waiting``: the run's
        ``Pending``, which takes them all at the first lock (they go in with the run's end, or are
        kept beside the store with it), rather than each waiting for the lock in turn."""
        if not self.points:
            return []
        left = []
        for n, point in enumerate(self.points):
            try:
                run.store.add_eval_point(run.run_id, point)
            except StoreLocked:
                if waiting is None:
                    left.append(point)
                    continue
                rest = [*self.points[n:], *waiting.points]
                waiting.points[:] = sorted(rest, key=lambda p: p.index)
                break
            except Exception:
                left.append(point)
        self.points = left
        if not left:
            return [
                f"{self.refused} of {evaluations} evaluation points were refused by the store at "
                f"the time ({self.first_error}) and written when the run ended"
            ]
        which = ", ".join(str(p.index + 1) for p in left)
        self.lacking = (
            f"{len(left)} of {evaluations} evaluation points not recorded (evaluations {which}: "
            f"{self.first_error}): the run's stored curve is incomplete; its outcome's figures "
            "were made from every point"
        )
        return [self.lacking]

    def kept_whole(self, faults: list[str]) -> list[str]:
        """``faults`` of a run kept whole beside its store (every point with it): the note that it
        lacks points, true of the store, is not of that copy, and says what happened instead."""
        if self.lacking is None or self.lacking not in faults:
            return faults
        note = (
            f"{self.refused} evaluation points were refused by the store at the time "
            f"({self.first_error}); the run, with every point, was kept in a store beside it"
        )
        return [note if f == self.lacking else f for f in faults]
