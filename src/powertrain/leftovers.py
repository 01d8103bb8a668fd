"""The processes a measured command leaves behind, found so that they can be stopped with it.

A command runs in a session and process group of its own (``start_new_session``), and is stopped by
signalling that group. Two kinds of process escape a group signal: one that a shell with job control
put in another group of the same session (``set -m``), and a daemon that called ``setsid`` and so left
the session. The first is found at the end by its session id; the second while it is still a
descendant of the command, so ``Leftovers.watch`` notes the command's descendants as it runs (every
``WATCH_EVERY_S``). A daemon that double-forks (its parent exits at once) and calls ``setsid`` inside
one such interval is reparented to init before it is seen; it is found by the mark the command was
started with (``marked``), in its environment, unless it cleared its environment or runs as another
user: run services that do that under a cgroup of their own (``systemd-run --scope``, a container) to
stop them with the command.
"""

from __future__ import annotations

import contextlib
import os
import time

import psutil

from powertrain.marked import MarkedProcesses

#: How often the command's descendants are listed (each listing reads every process's /proc entry).
WATCH_EVERY_S = 0.2


class Leftovers:
    """The descendants and session members of the command ``pid``, by pid and start time (so that a
    reused pid is never signalled)."""

    def __init__(self, pid: int, marked: MarkedProcesses | None = None) -> None:
        self.pid = pid
        self.marked = marked  # made before the command started: what carries its mark
        self.seen: dict[int, float] = {}
        self.signalled: set[int] = set()  # stopped at the target with the group (``signal``)
        self._next_s = 0.0

    def watch(self, force: bool = False) -> None:
        """Note the command's descendants now (at most once per ``WATCH_EVERY_S`` unless forced)."""
        now_s = time.monotonic()
        if now_s < self._next_s and not force:
            return
        self._next_s = now_s + WATCH_EVERY_S
        try:
            for child in psutil.Process(self.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child.create_time())
        except psutil.Error:
            pass  # the command has ended
        for pid in self.marked.new() if self.marked is not None else ():
            with contextlib.suppress(psutil.Error):  # ended since
                self.seen.setdefault(pid, psutil.Process(pid).create_time())

    def _session(self) -> dict[int, float]:
        found = {}
        for process in psutil.process_iter():
            try:
                if os.getsid(process.pid) == self.pid:
                    found[process.pid] = process.create_time()
            except (OSError, psutil.Error):
                continue
        return found

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the descendants noted so far that left the command's group (a
        launcher's ranks, in sessions of their own), as the group gets it: at the target, SIGTERM
        ends them with their launcher rather than SIGKILL after it. Counted by ``stop``."""
        self.watch(force=True)
        for pid, created in self.seen.items():
            try:
                process = psutil.Process(pid)
                if process.create_time() == created and os.getpgid(pid) != self.pid:
                    process.send_signal(signum)
                    self.signalled.add(pid)
            except (OSError, psutil.Error):
                continue

    def stop(self) -> int:
        """SIGKILL every process noted or in the command's session that is still alive outside the
        command's own process group (which is signalled as one); how many, those ``signal`` reached
        included."""
        stopped = set(self.signalled)
        for pid, created in {**self.seen, **self._session()}.items():
            if pid == os.getpid():
                continue
            try:
                process = psutil.Process(pid)
                if (
                    process.create_time() == created
                    and os.getpgid(pid) != self.pid  # the group's own are signalled as a group
                    and process.status() != psutil.STATUS_ZOMBIE
                ):
                    process.kill()
                    stopped.add(pid)
            except (OSError, psutil.Error):
                continue
        return len(stopped)
