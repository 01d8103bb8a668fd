"""Running a command to a target: POWERTRAIN lines, stopping, failures, and the process tree's energy."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import resource
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from powertrain.command import CommandNotFound, parse_line, run_command, tell
from powertrain.errors import PowertrainError
from powertrain.meters.base import Component
from powertrain.meters.detect import detect_meters
from powertrain.monitor import Monitor
from powertrain.records import CENSORED, DIVERGED, FAILED, REACHED
from powertrain.study.command_task import CommandTarget
from tests.fakes.meters import ConstantPowerMeter

TARGET = CommandTarget("val_acc", at_least=0.9)


def script(tmp_path, body: str, name: str = "train.py") -> list[str]:
    path = tmp_path / name
    path.write_text("import json, os, signal, sys, time\n" + textwrap.dedent(body))
    return [sys.executable, str(path)]


def run(argv, target=TARGET, monitor=None, **options):
    monitor = monitor or Monitor([ConstantPowerMeter(Component.CPU, 10.0, time.monotonic)])
    out, err, seen = io.StringIO(), io.StringIO(), []
    with monitor:
        result = run_command(argv, target, monitor, seen.append, stdout=out, stderr=err, **options)
    return result, seen, out.getvalue(), err.getvalue()


def test_a_report_line_is_read_with_its_optional_fields():
    fields, why = parse_line(
        'POWERTRAIN {"step": 120, "epoch": 2, "val_acc": 0.87, "train_loss": 0.4, "x": "y"}',
        "val_acc",
    )
    assert why is None
    assert fields == {"value": 0.87, "step": 120, "epoch": 2.0, "train_loss": 0.4}


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("POWERTRAIN {val_acc: 0.9}", "not JSON"),
        ("POWERTRAIN [0.9]", "not a JSON object"),
        ('POWERTRAIN {"acc": 0.9, "step": 1}', "no 'val_acc'"),
        ('POWERTRAIN {"acc": 0.9, "step": 1}', "it has acc, step"),
        ('POWERTRAIN {"val_acc": "0.9"}', "not a finite number"),
        ('POWERTRAIN {"val_acc": true}', "not a finite number"),
        ('POWERTRAIN {"val_acc": NaN}', "not a finite number"),
        ('POWERTRAIN {"val_acc": 0.9, "step": -1}', "step is -1, not a whole number"),
        ('POWERTRAIN {"val_acc": 0.9, "step": 1.5}', "not a whole number"),
    ],
)
def test_a_malformed_report_line_says_why(line, why):
    fields, reason = parse_line(line, "val_acc")
    assert fields is None
    assert why in reason


def test_tell_prints_one_flushed_line_powertrain_reads_back(capsys):
    tell(step=3, val_acc=0.5)
    line = capsys.readouterr().out.strip()
    assert line == 'POWERTRAIN {"step": 3, "val_acc": 0.5}'
    assert parse_line(line, "val_acc")[0] == {"value": 0.5, "step": 3}
    with pytest.raises(PowertrainError, match="not a number"):
        tell(step=1, val_acc="high")
    with pytest.raises(PowertrainError, match="needs a metric"):
        tell(step=1)


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"step": "x"}, "step='x' is not a whole number"),
        ({"step": 2.7}, "step=2.7 is not a whole number"),
        ({"step": True}, "step=True is not a whole number"),
        ({"step": -1}, "step=-1 is not a whole number, 0 or more"),
        ({"samples_seen": 1.5}, "samples_seen=1.5 is not a whole number"),
        ({"val_acc": True}, "val_acc=True is not a number"),
        ({"val_acc": math.nan}, "val_acc=nan is not a finite number"),
        ({"val_acc": math.inf}, "val_acc=inf is not a finite number"),
        ({"epoch": math.nan}, "epoch=nan is not a finite number"),
    ],
)
def test_tell_refuses_what_its_line_could_not_carry_at_the_call(capsys, kwargs, why):
    kwargs = {"step": 1, "val_acc": 0.5, **kwargs}
    with pytest.raises(PowertrainError, match=re.escape(why)):
        tell(**kwargs)
    assert capsys.readouterr().out == ""  # no line a reader would refuse or misread


def test_tell_prints_whole_steps_and_a_diverged_loss_the_reader_takes(capsys):
    tell(step=np.int64(4), val_acc=np.float32(0.5), samples_seen=64.0, train_loss=math.nan)
    line = capsys.readouterr().out.strip()
    fields, why = parse_line(line, "val_acc")
    assert why is None and fields["step"] == 4 and fields["samples_seen"] == 64
    assert fields["value"] == 0.5 and math.isnan(fields["train_loss"])


def test_stops_the_command_at_the_target_and_keeps_what_it_printed(tmp_path):
    argv = script(
        tmp_path,
        """
        print("loading data")
        print('POWERTRAIN {"step": 10, "val_acc": 0.5}')
        time.sleep(0.2)
        print('POWERTRAIN {"step": 20, "val_acc": 0.95}')
        time.sleep(120)
        print("never printed")
        """,
    )
    started = time.monotonic()
    result, seen, out, _ = run(argv)
    assert time.monotonic() - started < 60  # it did not sleep its 120 s
    o = result.outcome
    assert (o.status, o.steps_to_target, o.steps) == (REACHED, 20, 20)
    assert "val_acc >= 0.9 reached at step 20" in o.stop_reason
    assert result.stopped_by_powertrain and result.exit_code is None
    assert [p.step for p in seen] == [10, 20] and [p.index for p in seen] == [0, 1]
    assert seen[1].task_accuracies == {"val_acc": 0.95} and seen[1].val_accuracy == 0.95
    assert 0 < seen[0].total_energy_j < seen[1].total_energy_j == o.energy_to_target_j
    assert o.energy_to_target_j <= o.total_energy_j
    assert out == "loading data\n"


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    argv = script(
        tmp_path,
        """
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('POWERTRAIN {"val_acc": 0.99}')
        time.sleep(120)
        """,
    )
    started = time.monotonic()
    result, seen, _, _ = run(argv, grace_s=0.5)
    assert time.monotonic() - started < 60
    assert result.outcome.status == REACHED and seen[0].step == 1  # step: the report's ordinal


def test_let_finish_runs_on_after_the_target_and_keeps_the_exit_code(tmp_path):
    argv = script(
        tmp_path,
        """
        for step, acc in [(1, 0.95), (2, 0.97)]:
            print("POWERTRAIN " + json.dumps({"step": step, "val_acc": acc}))
            time.sleep(0.1)
        print("finished")
        """,
    )
    result, seen, out, _ = run(argv, let_finish=True)
    o = result.outcome
    assert (o.status, o.steps_to_target, o.steps, result.exit_code) == (REACHED, 1, 2, 0)
    assert o.final_val_accuracy == 0.97 and o.energy_to_target_j < o.total_energy_j
    assert out == "finished\n" and len(seen) == 2


def test_a_command_that_exits_non_zero_is_failed_with_its_energy_and_stderr(tmp_path):
    argv = script(
        tmp_path,
        """
        print('POWERTRAIN {"step": 1, "val_acc": 0.3}')
        time.sleep(0.2)
        print("Traceback ...", file=sys.stderr)
        print("RuntimeError: boom", file=sys.stderr)
        sys.exit(3)
        """,
    )
    result, seen, _, err = run(argv)
    o = result.outcome
    assert (o.status, result.exit_code) == (FAILED, 3)
    assert o.stop_reason == "the command exited with code 3"
    assert o.error.endswith("RuntimeError: boom") and "RuntimeError: boom" in err
    assert o.total_energy_j > 0 and o.final_val_accuracy == 0.3 and len(seen) == 1


def test_a_command_that_never_tells_is_censored_and_says_how_to_tell(tmp_path):
    result, seen, out, _ = run(script(tmp_path, 'print("training...")\n'))
    o = result.outcome
    assert o.status == CENSORED and not seen and out == "training...\n"
    assert "exited with code 0 without telling val_acc" in o.stop_reason
    assert "powertrain.tell(step=N, val_acc=X)" in o.stop_reason
    assert o.total_energy_j > 0 and o.energy_to_target_j is None


class _ResetOnSecondRead(ConstantPowerMeter):
    def _read_energy_j(self) -> float:
        if self.reads == 1:
            self.note_fault("counter reset, counted from its new zero")
        return super()._read_energy_j()


def test_a_fault_noted_while_the_command_ran_is_kept_in_its_outcome(tmp_path):
    meter = _ResetOnSecondRead(Component.CPU, 10.0, time.monotonic)
    argv = script(tmp_path, 'print(\'POWERTRAIN {"step": 5, "val_acc": 0.95}\')\n')
    o = run(argv, monitor=Monitor([meter], sample=False))[0].outcome
    assert o.faults == ["cpu: counter reset, counted from its new zero"]


def test_a_command_that_ends_short_of_the_target_is_censored_with_its_best(tmp_path):
    argv = script(tmp_path, 'print(\'POWERTRAIN {"step": 5, "val_acc": 0.7}\')\n')
    o = run(argv)[0].outcome
    assert o.status == CENSORED and "before val_acc >= 0.9 (best 0.7)" in o.stop_reason


def test_malformed_lines_are_warnings_and_the_run_goes_on(tmp_path):
    argv = script(
        tmp_path,
        """
        print("POWERTRAIN not json")
        print('POWERTRAIN {"step": 1, "accuracy": 0.95}')
        print('POWERTRAIN {"step": 2, "val_acc": 0.95}')
        """,
    )
    result, seen, _, err = run(argv)
    assert result.outcome.status == REACHED and [p.step for p in seen] == [2]
    warnings = [line for line in err.splitlines() if line.startswith("powertrain: warning:")]
    assert len(warnings) == 2
    assert "not JSON" in warnings[0] and "no 'val_acc'" in warnings[1]
    only_bad = script(tmp_path, 'print("POWERTRAIN {}")\n', "bad.py")
    o = run(only_bad)[0].outcome
    assert o.status == CENSORED and "1 malformed POWERTRAIN lines ignored" in o.stop_reason


def test_a_loss_target_and_a_diverging_loss(tmp_path):
    argv = script(
        tmp_path,
        """
        print('POWERTRAIN {"step": 1, "val_loss": 0.9, "train_loss": 1.2}')
        print('POWERTRAIN {"step": 2, "val_loss": 0.2}')
        """,
    )
    o = run(argv, CommandTarget("val_loss", at_most=0.3))[0].outcome
    assert (o.status, o.steps_to_target) == (REACHED, 2)
    nan = script(tmp_path, 'print(\'POWERTRAIN {"val_acc": 0.1, "train_loss": NaN}\')\n', "n.py")
    o = run(nan)[0].outcome
    assert o.status == DIVERGED and "train_loss became nan" in o.stop_reason


def test_max_time_stops_a_command_as_censored(tmp_path):
    argv = script(tmp_path, "time.sleep(120)\n")
    started = time.monotonic()
    o = run(argv, max_time_s=0.5)[0].outcome
    assert time.monotonic() - started < 60
    assert o.status == CENSORED and o.stop_reason == "max_time_s (0.5) reached"


def test_a_process_left_behind_holding_the_output_does_not_hang_the_run(tmp_path):
    argv = script(
        tmp_path,
        """
        import subprocess
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        print(child.pid, flush=True)
        print('POWERTRAIN {"val_acc": 0.5}')
        """,
    )
    started = time.monotonic()
    result, _, out, _ = run(argv)
    assert time.monotonic() - started < 60
    assert result.outcome.status == CENSORED
    leftover = int(out.split()[0])
    time.sleep(0.2)
    with contextlib.suppress(psutil.NoSuchProcess):  # killed: gone, or a zombie not yet reaped
        assert psutil.Process(leftover).status() == psutil.STATUS_ZOMBIE


def test_a_program_that_is_not_there_raises_before_measuring():
    with pytest.raises(CommandNotFound, match="command not found: no-such-program-xyz"):
        run(["no-such-program-xyz"])


def test_the_child_s_cpu_time_shows_at_each_report_and_is_counted_once(tmp_path):
    """The estimate meter counts the live child at each POWERTRAIN line, and the reaped child once."""
    argv = script(
        tmp_path,
        """
        for step in range(1, 4):
            t = time.process_time()
            while time.process_time() - t < 0.3:
                pass
            print("POWERTRAIN " + json.dumps({"step": step, "val_acc": 0.1 * step}), flush=True)
            time.sleep(0.3)  # idle while powertrain reads the meters
        """,
    )
    detection = detect_meters(["estimate"]).require()
    cpu = detection.meters[Component.CPU]
    watts_per_cpu_s = cpu.profile.watts_per_cpu_s
    own_before, children_before = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result, seen, _, _ = run(argv, monitor=Monitor(detection.meters))
    own_after, children_after = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = [p.energy_j["cpu"] / watts_per_cpu_s for p in seen]
    assert len(cpu_s) == 3
    # Each report shows the 0.3 s burnt since the last (less a clock tick or two of /proc rounding).
    assert cpu_s[0] >= 0.28 and cpu_s[1] - cpu_s[0] >= 0.28 and cpu_s[2] - cpu_s[1] >= 0.28
    child_s = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    own_s = (own_after.user + own_after.system) - (own_before.user + own_before.system)
    total_s = result.outcome.energy_j["cpu"] / watts_per_cpu_s
    assert child_s >= 0.9
    assert child_s - 0.02 <= total_s <= child_s + own_s + 0.02  # the child once, not twice
    detection.close()


def _gone(pid: int) -> bool:
    time.sleep(0.2)
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize(
    "spawn",
    [
        "subprocess.Popen(SLEEPER, start_new_session=True)",  # setsid: a session of its own
        "subprocess.Popen(SLEEPER, process_group=0)",  # another group of the same session
        'subprocess.Popen([sys.executable, "-c", "import os, subprocess, sys, time; '
        "p = subprocess.Popen(sys.argv[1:], start_new_session=True); print(p.pid, flush=True); "
        'time.sleep(120)", *SLEEPER], stdout=subprocess.PIPE)',  # a grandchild that left
    ],
    ids=["setsid child", "own process group", "setsid grandchild"],
)
def test_processes_that_leave_the_commands_group_are_stopped_with_it(tmp_path, spawn):
    argv = script(
        tmp_path,
        f"""
        import subprocess
        SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]
        p = {spawn}
        pid = int(p.stdout.readline()) if p.stdout else p.pid
        print(pid, flush=True)
        time.sleep(0.6)  # long enough to be seen among the command's descendants
        print('POWERTRAIN {{"val_acc": 0.95}}', flush=True)
        time.sleep(120)
        """,
    )
    result, _, out, err = run(argv, grace_s=1.0)
    assert result.outcome.status == REACHED
    assert _gone(int(out.split()[0]))
    assert "process(es) the command left behind" in err
