"""A measured command's daemon that detaches at once (the double fork) is counted and stopped: found by
the mark in its environment, where its parents no longer lead to it."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import textwrap
import time

import psutil
import pytest

from powertrain.command import run_command
from powertrain.marked import MARK_VAR, MarkedProcesses, marked_environment, process_mark
from powertrain.meters.base import Component
from powertrain.meters.detect import detect_meters
from powertrain.monitor import Monitor
from powertrain.records import REACHED
from powertrain.study.command_task import CommandTarget

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/environ"), reason="processes' environments: Linux's /proc"
)

#: The command: starts a daemon the usual way (fork, setsid, fork; the middle process exits at once),
#: which spins for 0.6 s of CPU time, writes its pid and "spun", and sleeps. The command waits for it
#: to have spun (it is listed by no one before: its parents are gone within milliseconds), reports
#: the target and sleeps on, so that powertrain stops it.
COMMAND = """
import json, os, sys, time
pid_file = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        t0 = time.process_time()
        while time.process_time() - t0 < 0.6:
            pass
        with open(pid_file + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(pid_file + ".tmp", pid_file)
        time.sleep(60)
    os._exit(0)
os.wait()
while not os.path.exists(pid_file):
    time.sleep(0.05)
time.sleep(1.5)  # a listing or two after it spun
print("POWERTRAIN " + json.dumps({"val_acc": 0.95}), flush=True)
if sys.argv[2:] != ["exit"]:
    time.sleep(60)
"""


def _kill(pid: int | None) -> None:
    if pid:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


def test_a_daemon_that_double_forks_is_counted_and_stopped_with_its_command(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(COMMAND))
    pid_file = tmp_path / "daemon.pid"
    detection = detect_meters(["estimate"]).require()
    watts_per_cpu_s = detection.meters[Component.CPU].profile.watts_per_cpu_s
    out, err = io.StringIO(), io.StringIO()
    daemon = None
    try:
        with Monitor(detection.meters) as monitor:
            result = run_command(
                [sys.executable, str(path), str(pid_file)],
                CommandTarget("val_acc", at_least=0.9),
                monitor,
                lambda point: None,
                stdout=out,
                stderr=err,
                grace_s=1.0,
            )
        daemon = int(pid_file.read_text())
        assert result.outcome.status == REACHED
        counted_s = result.outcome.energy_j["cpu"] / watts_per_cpu_s
        # the daemon's 0.6 s with the command's own start-up; without the mark: the start-up alone
        assert counted_s >= 0.6, (counted_s, result.outcome.faults)
        assert any(
            f"process {daemon}, started by the measured command" in f for f in result.outcome.faults
        )
        time.sleep(0.2)
        assert not psutil.pid_exists(daemon) or psutil.Process(daemon).status() == "zombie"
        assert "process(es) the command left behind" in err.getvalue()
    finally:
        _kill(daemon)
        detection.close()


def test_powertrain_measure_counts_a_daemon_its_command_started(tmp_path):
    from powertrain.measure import measure_command

    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(COMMAND))
    pid_file = tmp_path / "daemon.pid"
    detection = detect_meters(["estimate"]).require()
    watts_per_cpu_s = detection.meters[Component.CPU].profile.watts_per_cpu_s
    daemon = None
    try:
        done = measure_command([sys.executable, str(path), str(pid_file), "exit"], detection)
        daemon = int(pid_file.read_text())
        assert done.exit_code == 0
        counted_s = done.measurement.energy_j["cpu"] / watts_per_cpu_s
        assert counted_s >= 0.6, (counted_s, done.measurement.faults)
    finally:
        _kill(daemon)
        detection.close()


def test_only_processes_started_with_this_process_s_mark_and_after_the_look_began_are_found(
    tmp_path,
):
    import subprocess

    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    before = subprocess.Popen(sleeper, env=marked_environment(dict(os.environ)))
    try:
        time.sleep(0.2)
        marked = MarkedProcesses(process_mark())
        other = subprocess.Popen(sleeper, env={**os.environ, MARK_VAR: "another powertrain's"})
        plain = subprocess.Popen(sleeper)
        ours = subprocess.Popen(sleeper, env=marked_environment(dict(os.environ)))
        time.sleep(0.3)  # exec'd: the environment is the new program's
        assert marked.new() == [ours.pid]
        assert marked.new() == []  # each once
    finally:
        for p in (before, other, plain, ours):
            p.kill()
            p.wait()
