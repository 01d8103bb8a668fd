"""Processes a measured command started, found by a mark in their environment wherever they went.

A process that detaches itself at once (the usual daemon's double fork: its first child ends within
milliseconds, the second calls ``setsid``) is handed to init before a listing of the command's tree
sees it, so neither the estimate (``meters.estimate.ProcessTree``) nor the command's stopping
(``leftovers.Leftovers``) would find it by its parents. Its environment goes with it: the command is
started with ``MARK_VAR`` set to this process's mark, every process it starts inherits it unless it
clears its environment, and ``MarkedProcesses.new`` reads it from /proc/PID/environ (Linux; processes
of the same user: the kernel shows no one else's). Only the processes that appeared since the last
look are read, so a look costs a listing of /proc and a read of a few files.
"""

from __future__ import annotations

import os
import secrets

#: The environment variable a measured command is started with.
MARK_VAR = "POWERTRAIN_MARK"
PROC = "/proc"

_marks: dict[int, str] = {}  # by pid: a forked worker makes its own, not its parent's


def process_mark() -> str:
    """This process's mark: the value of ``MARK_VAR`` for the commands it starts."""
    return _marks.setdefault(os.getpid(), secrets.token_hex(8))


def marked_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this process's mark."""
    return {**env, MARK_VAR: process_mark()}


def follow_marked(meters) -> None:
    """Have the estimate meters among ``meters`` follow the processes started with this process's
    mark (``ProcessTree.follow_marked``); before a marked command starts."""
    for meter in meters:
        tree = getattr(meter, "tree", None)
        if tree is not None and hasattr(tree, "follow_marked"):
            tree.follow_marked()


class MarkedProcesses:
    """The processes carrying ``mark`` in their environment that appeared after this was made. The
    processes there already cannot carry it (a command is marked after this is made) and are never
    read; a pid that leaves the listing is forgotten, so one given to a new process is read again."""

    def __init__(self, mark: str, proc: str = PROC) -> None:
        self._entry = f"{MARK_VAR}={mark}".encode()
        self._proc = proc
        self._seen: set[int] = set(self._pids())

    def new(self) -> list[int]:
        """The marked processes that appeared since the last call (each pid once)."""
        pids = set(self._pids())
        found = [pid for pid in sorted(pids - self._seen) if self._carries(pid)]
        self._seen = pids
        return found

    def _pids(self) -> list[int]:
        try:
            return [int(name) for name in os.listdir(self._proc) if name.isdigit()]
        except OSError:  # no /proc: nothing is found this way
            return []

    def _carries(self, pid: int) -> bool:
        try:
            with open(os.path.join(self._proc, str(pid), "environ"), "rb") as f:
                entries = f.read().split(b"\0")
        except OSError:  # ended since the listing, or another user's
            return False
        return self._entry in entries
