"""The process tree's listing: the same processes psutil finds, from wherever the kernel allows."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from powertrain.meters import descendants as module
from powertrain.meters.descendants import descendants

NESTED = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


@pytest.fixture
def nested():
    """A child of this process with a child of its own (a grandchild), both asleep."""
    child = subprocess.Popen([sys.executable, "-c", NESTED], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        yield child
    finally:
        for process in psutil.Process(child.pid).children(recursive=True):
            process.kill()
        child.kill()
        child.wait()


def test_the_children_files_list_the_same_descendants_as_psutils_scan(nested):
    root = psutil.Process()
    listed = {p.pid for p in descendants(root)}
    assert nested.pid in listed and len(listed) >= 2  # the grandchild too
    assert listed == {p.pid for p in root.children(recursive=True)}


def test_without_children_files_psutil_lists_them(nested, monkeypatch):
    """A kernel without /proc/PID/task/TID/children (or a system without /proc): psutil's scan."""
    monkeypatch.setattr(module, "_children", lambda pid: None)
    listed = {p.pid for p in descendants(psutil.Process())}
    assert nested.pid in listed and len(listed) >= 2


def test_an_ended_root_is_no_such_process():
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    root = psutil.Process(ended.pid)
    ended.wait()
    with pytest.raises(psutil.NoSuchProcess):
        descendants(root)


def test_a_child_listed_in_two_threads_children_files_is_listed_once(nested, monkeypatch):
    """A thread that ends hands its children to another thread of its process: a listing that reads
    the first thread's file before and the second's after sees the child twice (here: every child of
    this process twice). Listed twice, its CPU time (and its child's) would be counted twice."""
    real = module._children
    root = psutil.Process()
    twice = lambda pid: real(pid) * 2 if pid == root.pid else real(pid)  # noqa: E731
    monkeypatch.setattr(module, "_children", twice)
    listed = [p.pid for p in descendants(root)]
    assert nested.pid in listed and len(listed) >= 2
    assert sorted(listed) == sorted(set(listed))


def test_a_pid_listed_again_below_itself_ends_the_listing(nested, monkeypatch):
    """A pid reused while the tree is listed can make a process seem its own descendant; the listing
    still ends, with each process once."""
    root = psutil.Process()
    tree = {root.pid: [nested.pid], nested.pid: [root.pid]}
    calls = []

    def children(pid):
        calls.append(pid)
        assert len(calls) < 100, "the listing goes round in a circle"
        return tree.get(pid, [])

    monkeypatch.setattr(module, "_children", children)
    assert [p.pid for p in descendants(root)] == [nested.pid]
