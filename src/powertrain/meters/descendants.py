"""A process's descendants, listed as cheaply as the system allows.

psutil finds them by reading every process's parent from /proc: about half a millisecond with 70
processes on the machine, more with more. Linux also lists each thread's children in
``/proc/PID/task/TID/children``; following those reads only the tree itself (microseconds for a
few processes). A window's edges list the tree every time, so the cheaper way is used where the
kernel has it, psutil's elsewhere.
"""

from __future__ import annotations

import os
from typing import NamedTuple

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


#: The unit of /proc/PID/stat's resident memory (a page).
PAGE_B = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Member:
    """A descendant as listed, and from its first read on its start time: the identity of a process,
    where its pid alone is not (an ended child's pid can be given to an unrelated process before the
    list is read again). Also its last reading, whose parent says whether a process of the tree
    waits for it (one whose parent ended first was handed on, to init or a subreaper)."""

    __slots__ = ("process", "started", "last", "followed")

    def __init__(self, process: psutil.Process, followed: bool = False) -> None:
        self.process = process
        self.started: int | None = None  # /proc/PID/stat field 22: clock ticks after boot
        self.last: Usage | None = None
        self.followed = followed  # outside the root's tree: an orphan, or one of its descendants


class Usage(NamedTuple):
    cpu_s: float  # user + system, its own and its waited-for children's
    rss_b: int
    ppid: int


def usage(member: Member, stat_tick_s: float | None) -> Usage | None:
    """``member``'s CPU time and resident memory; None when it has ended, or when its pid is another
    process's now. ``stat_tick_s``: the clock tick where /proc/PID/stat can be read (one read gives
    the times, the memory and the start time together); None elsewhere (psutil reads them, then
    compares the process's start time with the one it took when the process was listed)."""
    if stat_tick_s is None:
        read = _psutil_usage(member.process)
    else:
        stat = _stat(member.process.pid)
        if stat is None:
            return None
        started, ticks, rss_pages, ppid = stat
        if member.started is None:
            member.started = started
        elif started != member.started:
            return None
        read = Usage(ticks * stat_tick_s, rss_pages * PAGE_B, ppid)
    if read is not None:
        member.last = read
    return read


def _stat(pid: int) -> tuple[int, int, int, int] | None:
    """Start time, utime + stime + cutime + cstime (both clock ticks), resident pages and parent,
    from /proc/PID/stat (fields 22, 14-17, 24 and 4, counted after the name in parentheses, which
    may hold spaces); None when the process has ended."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()  # fields[0] is field 3, the state
    ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return int(fields[19]), ticks, int(fields[21]), int(fields[1])


def _psutil_usage(process: psutil.Process) -> Usage | None:
    try:
        with process.oneshot():
            t, rss_b, ppid = process.cpu_times(), process.memory_info().rss, process.ppid()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if not process.is_running():  # psutil compares start times: the pid was given to another
        return None
    return Usage(t.user + t.system + t.children_user + t.children_system, rss_b, ppid)


class Departures(NamedTuple):
    members: list[Member]  # to read till the next listing
    carried_s: float  # CPU seconds of members that ended where no process of the tree waited
    notes: list[str]  # one per process that left the tree


def follow(
    root_pid: int, old: list[Member], listed: list[Member], stat_tick_s: float | None
) -> Departures:
    """The processes to read after a listing: ``listed`` (the root's descendants now), and those of
    ``old`` that left the root's tree alive, with their descendants. A process leaves the tree when
    its parent ends before it: the kernel hands it to init (or to the nearest subreaper), so no
    process of the tree waits for it and its time never reaches a parent's ``children_*`` times.
    Such a process is followed by its pid and start time till it ends; its last reading is then
    carried, since nothing else counts it (one whose last parent is a process read here is not:
    its time went to that parent). What it used after that reading is lost: said in the notes, as
    for one that was handed on and ended between two listings."""
    listed_pids = {m.process.pid for m in listed}
    if all(m.process.pid in listed_pids for m in old):  # none left: at every edge, mostly
        return Departures(listed, 0.0, [])
    counted = {root_pid, *listed_pids, *(m.process.pid for m in old)}
    members: dict[int, Member] = {}
    found: list[Member] = []  # processes below the followed ones
    carried_s, notes = 0.0, []
    for member in old:
        pid = member.process.pid
        if pid in listed_pids or member.last is None:  # still below the root, or never counted
            continue
        was_followed, last = member.followed, member.last
        if usage(member, stat_tick_s) is None:  # ended (or its pid is another's)
            if last.ppid not in counted:  # handed on: nothing read here waited for it
                carried_s += last.cpu_s
                if not was_followed:
                    notes.append(_left(pid, "and ended before the next listing"))
            continue
        member.followed = True
        if not was_followed:
            notes.append(_left(pid, "and is followed by its pid and start time till it ends"))
        members[pid] = member
        try:
            found += [Member(p, followed=True) for p in descendants(member.process)]
        except psutil.NoSuchProcess:
            continue
    for member in found:
        members.setdefault(member.process.pid, member)
    members.update({m.process.pid: m for m in listed})
    return Departures(list(members.values()), carried_s, notes)


def _left(pid: int, then: str) -> str:
    return (
        f"process {pid} outlived its parent, left the measured process tree {then}; the CPU time"
        " it used after its last reading is not counted: the CPU figure may be an undercount"
    )
