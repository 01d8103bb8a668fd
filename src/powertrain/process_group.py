"""Stopping a command and everything it started, launchers included.

A command runs in a process group of its own; signalling the group reaches what it forks, but not a
process it starts in a session of its own, as ``torchrun`` starts every rank. ``CommandGroup`` also
signals those, remembered as last seen (a launcher's ranks outlive it, orphaned, when it ends first).
torchrun turns SIGTERM into a traceback of its own: ``quiet_launchers`` leaves SIGTERM out of the
signals it handles (unless the user chose them), so at the target the launcher just ends while each
rank is stopped here. Kept light: ``powertrain.command`` is imported by users' scripts.
"""

from __future__ import annotations

import contextlib
import os

#: The signals torchrun handles (with a traceback) in a command powertrain runs: not SIGTERM.
TORCHRUN_SIGNALS = "SIGINT,SIGHUP,SIGQUIT"
#: Where torchrun reads them: its --signals-to-handle option's variable, and its agent's.
TORCHRUN_SIGNAL_VARIABLES = ("PET_SIGNALS_TO_HANDLE", "TORCHELASTIC_SIGNALS_TO_HANDLE")


def quiet_launchers(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with torchrun's handled signals set, where the user did not set them."""
    return {**{name: TORCHRUN_SIGNALS for name in TORCHRUN_SIGNAL_VARIABLES}, **environ}


class CommandGroup:
    """The process group led by ``pid``, and the descendants that left it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.strays: list = []  # psutil.Process of descendants in other groups, as last seen

    def signal(self, signum: int) -> None:
        import psutil

        with contextlib.suppress(psutil.Error):
            known = {p.pid for p in self.strays}
            found = psutil.Process(self.pid).children(recursive=True)
            self.strays += [p for p in found if p.pid not in known and self._left(p)]
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(self.pid, signum)
        for process in self.strays:
            with contextlib.suppress(psutil.Error):
                process.send_signal(signum)  # psutil checks it is still the same process

    def _left(self, process) -> bool:
        try:
            return os.getpgid(process.pid) != self.pid
        except OSError:
            return False
