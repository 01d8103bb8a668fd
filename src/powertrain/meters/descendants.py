"""A process's descendants, listed as cheaply as the system allows.

psutil finds them by reading every process's parent from /proc: about half a millisecond with 70
processes on the machine, more with more. Linux also lists each thread's children in
``/proc/PID/task/TID/children``; following those reads only the tree itself (microseconds for a
few processes). A window's edges list the tree every time, so the cheaper way is used where the
kernel has it, psutil's elsewhere.
"""

from __future__ import annotations

import os

import psutil


def descendants(root: psutil.Process) -> list[psutil.Process]:
    """Every process below ``root`` (children, theirs, ...); psutil.NoSuchProcess when ``root``
    has ended, as from ``root.children``."""
    pids = _listed_pids(root.pid)
    if pids is None:
        return root.children(recursive=True)
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # ended since it was listed
            continue
    return found


def _listed_pids(root_pid: int) -> list[int] | None:
    """The descendants' pids from the children files, each once; None where the kernel has none
    of them. A child can be read twice (its thread ended between two files and handed it to another
    thread), or a pid reused below itself: listed once, it is counted once and the listing ends."""
    pids, parents, seen = [], [root_pid], {root_pid}
    while parents:
        parent = parents.pop()
        children = _children(parent)
        if children is None:
            if parent == root_pid:
                return None
            continue  # a descendant that ended while it was being listed
        new = [pid for pid in dict.fromkeys(children) if pid not in seen]
        seen.update(new)
        pids += new
        parents += new
    return pids


def _children(pid: int) -> list[int] | None:
    """``pid``'s children, from its threads' children files; None when it has ended or the kernel
    has no such files (psutil then says which)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    children, files = [], 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                children += [int(c) for c in f.read().split()]
            files += 1
        except OSError:  # a thread that ended since the listing, or no such file on this kernel
            continue
    return children if files else None
