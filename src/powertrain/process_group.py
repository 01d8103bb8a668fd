"""Launchers in a measured command: torchrun turns SIGTERM into a traceback of its own, and starts
each rank in a session of its own. ``quiet_launchers`` leaves SIGTERM out of the signals torchrun
handles (unless the user chose them), so at the target the launcher just ends while powertrain sends
each rank the same SIGTERM (``leftovers.Leftovers.signal``). Kept light: ``powertrain.command`` is
imported by users' scripts.
"""

from __future__ import annotations

#: The signals torchrun handles (with a traceback) in a command powertrain runs: not SIGTERM.
TORCHRUN_SIGNALS = "SIGINT,SIGHUP,SIGQUIT"
#: Where torchrun reads them: its --signals-to-handle option's variable, and its agent's.
TORCHRUN_SIGNAL_VARIABLES = ("PET_SIGNALS_TO_HANDLE", "TORCHELASTIC_SIGNALS_TO_HANDLE")


def quiet_launchers(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with torchrun's handled signals set, where the user did not set them."""
    return {**{name: TORCHRUN_SIGNALS for name in TORCHRUN_SIGNAL_VARIABLES}, **environ}
