"""Log messages go through the ``powertrain`` logger; the command line decides how many reach stderr.

Library modules call ``logging.getLogger(__name__)`` and never print; ``-q`` keeps warnings and errors,
``-v`` adds debug messages.
"""

from __future__ import annotations

import logging
import sys

LOGGER = "powertrain"


def configure_logging(verbosity: int = 0, stream=None) -> logging.Logger:
    """verbosity -1 (``-q``): warnings; 0: information; 1 or more (``-v``): debug. Idempotent."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if getattr(h, "_powertrain", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._powertrain = True
    fmt = "%(levelname)s %(name)s: %(message)s" if verbosity > 0 else "powertrain: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
