"""``track()``: your own training loop, recorded as ``powertrain run`` records its runs. The framework
callbacks (``powertrain.integrations``) drive the same ``TrackedRun``."""

from powertrain.tracking.core import TrackedRun, Tracker, track
from powertrain.train.stopping import Diverged, TargetReached

__all__ = ["Diverged", "TargetReached", "TrackedRun", "Tracker", "track"]
