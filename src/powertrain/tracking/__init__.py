"""``track()``: your own training loop, recorded as ``powertrain run`` records its runs. The framework
callbacks (``powertrain.integrations``) drive the same ``TrackedRun``."""

from powertrain.tracking.core import TrackedRun, Tracker, track
from powertrain.tracking.handlers import NonFiniteLoss, TargetReached

__all__ = ["NonFiniteLoss", "TargetReached", "TrackedRun", "Tracker", "track"]
