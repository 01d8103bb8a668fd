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
