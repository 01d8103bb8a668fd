"""Energy-to-target for any command: run the user's script, stamp the energy when it tells an
evaluation, stop it at the target.

The script tells powertrain by printing one line, ``POWERTRAIN {"step": 120, "val_acc": 0.87}``, or by
calling ``powertrain.tell(step=120, val_acc=0.87)``, which prints that line and flushes. Every other line is
passed through. The energy is the monitor window ``run``'s cumulative reading when the line arrives: the
whole process tree (the estimate meter counts this process, its live descendants and the children it has
waited for; counters see the whole machine). At the target the command's process group gets SIGTERM,
then SIGKILL after a grace period, unless it is let finish; so does every process it started in a
session of its own (torchrun starts each rank so): a ``torchrun`` command ends with all its ranks.
torchrun turns SIGTERM into a traceback of its own; the command's environment leaves SIGTERM out of
the signals torchrun handles (``PET_SIGNALS_TO_HANDLE``, unless the user set it), so at the target the launcher just ends
while powertrain stops each rank itself.

This module is imported by users' scripts (``powertrain.tell``): keep its imports light.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from powertrain.errors import PowertrainError
from powertrain.marked import (
    MarkedProcesses,
    follow_marked,
    marked_environment,
    process_mark,
)
from powertrain.process_group import quiet_launchers
from powertrain.records import EvalPoint, RunOutcome, Verdict
from powertrain.told import OPTIONAL_KEYS, PREFIX
from powertrain.told import tell as tell  # what scripts call: powertrain.tell (told.py)

STDERR_TAIL_LINES = 20
#: After the command exits, how long a process it left behind may hold its output open.
LEFTOVER_WAIT_S = 1.0


class CommandNotFound(PowertrainError):
    """The command's program does not exist or cannot be executed (a shell would exit 127/126)."""


def parse_line(line: str, metric: str) -> tuple[dict[str, Any] | None, str | None]:
    """A POWERTRAIN line's fields (the metric's value under ``"value"``), or None and why it is malformed."""
    try:
        data = json.loads(line[len(PREFIX) :])
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(data, dict):
        return None, f'not a JSON object; write POWERTRAIN {{"step": N, "{metric}": X}}'
    if metric not in data:
        keys = ", ".join(map(str, data)) or "nothing"
        return None, f"no {metric!r}, the metric the target names (it has {keys})"
    value = data[metric]
    if not _is_number(value) or not math.isfinite(value):
        return None, f"{metric} is {value!r}, not a finite number"
    fields: dict[str, Any] = {"value": float(value)}
    for key, kind in OPTIONAL_KEYS.items():
        if key == metric or key not in data:
            continue
        value = data[key]
        ok = _is_number(value) and (kind is float or (float(value).is_integer() and value >= 0))
        if not ok:
            return None, f"{key} is {value!r}, not a {'whole number' if kind is int else 'number'}"
        fields[key] = kind(value)
    return fields, None


@dataclass
class CommandResult:
    """What one command run gave: its outcome (as the built-in loop's), its evaluation points, and its
    exit code (None when powertrain stopped it; negative: killed by that signal)."""

    outcome: RunOutcome
    points: list[EvalPoint]
    exit_code: int | None
    stopped_by_powertrain: bool = False


@dataclass
class _State:
    points: list[EvalPoint] = field(default_factory=list)
    reached: EvalPoint | None = None
    verdict: Verdict | None = None  # set when powertrain ends the command
    reason: str = ""
    malformed: int = 0
    kill_at_s: float | None = None
    stdout_done: bool = False


def run_command_to_target(
    argv: Sequence[str],
    target: Any,
    monitor: Any,
    on_eval: Callable[[EvalPoint], None] = lambda point: None,
    **options: Any,
) -> RunOutcome:
    """Run ``argv`` until its reported ``target.metric`` reaches the target (a ``CommandTarget``);
    the same RunOutcome and EvalPoints as the built-in loop. ``options``: see ``run_command``."""
    return run_command(argv, target, monitor, on_eval, **options).outcome


def run_command(
    argv: Sequence[str],
    target: Any,
    monitor: Any,
    on_eval: Callable[[EvalPoint], None] = lambda point: None,
    *,
    let_finish: bool = False,
    grace_s: float = 10.0,
    max_time_s: float | None = None,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> CommandResult:
    """Run the command in its own process group inside the monitor window ``run``. A program that
    is not there raises CommandNotFound before anything is measured."""
    session = _Session(argv, target, monitor, on_eval, let_finish, grace_s, max_time_s)
    return session.run(cwd, env, stdout or sys.stdout, stderr or sys.stderr)


class _Session:
    def __init__(self, argv, target, monitor, on_eval, let_finish, grace_s, max_time_s) -> None:
        self.argv = [str(a) for a in argv]
        self.target, self.monitor, self.on_eval = target, monitor, on_eval
        self.let_finish, self.grace_s, self.max_time_s = let_finish, grace_s, max_time_s
        self.state = _State()
        self.events: queue.Queue = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.proc: subprocess.Popen | None = None

    def run(self, cwd, env, out: IO[str], err: IO[str]) -> CommandResult:
        from powertrain.leftovers import Leftovers  # psutil: not for scripts importing report()

        self.out, self.err = out, err
        self.monitor.begin("run")
        marked = MarkedProcesses(process_mark())  # before it starts: all it starts is new
        try:
            self.proc = self._spawn(cwd, env)
        except BaseException:
            self.monitor.end("run")
            raise
        started_s = time.monotonic()
        # what leaves its group (setsid), or detaches at once (found by its mark), is stopped too
        self.leftovers = Leftovers(self.proc.pid, marked)
        readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            self._loop(started_s)
        finally:
            if self.proc.poll() is None:  # an exception here, or Ctrl-C: leave nothing running
                self._signal(signal.SIGKILL)
                self.proc.wait()
            self._signal(signal.SIGKILL)  # what the command left behind in its group
            if stopped := self.leftovers.stop():
                self.err.write(
                    f"powertrain: stopped {stopped} process(es) the command left behind\n"
                )
            total = self.monitor.end("run")
        for reader in readers:
            reader.join(timeout=LEFTOVER_WAIT_S)
        return self._result(total)

    def _spawn(self, cwd, env) -> subprocess.Popen:
        environment = quiet_launchers(dict(os.environ))
        environment.update({**(env or {}), "PYTHONUNBUFFERED": "1"})
        follow_marked(self.monitor.meters.values())  # a daemon it starts is found by the mark
        environment = marked_environment(environment)
        try:
            proc = subprocess.Popen(
                self.argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=environment,
                start_new_session=True,  # its own process group, stopped as one
            )
        except FileNotFoundError:
            raise CommandNotFound(f"command not found: {self.argv[0]}") from None
        except PermissionError:
            raise CommandNotFound(f"command is not executable: {self.argv[0]}") from None
        for meter in self.monitor.meters.values():  # see the new child at the next reading
            tree = getattr(meter, "tree", None)
            if tree is not None and hasattr(tree, "refresh"):
                tree.refresh()
        return proc

    # -- the readers (threads): stamp POWERTRAIN lines as they arrive, pass the rest through ---------
    def _read_stdout(self) -> None:
        prefix = PREFIX.encode()
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                if raw.startswith(prefix):
                    reading = self.monitor.read("run")  # first: the energy when the line arrived
                    self.events.put((raw.decode("utf-8", "replace").rstrip("\r\n"), reading))
                else:
                    self.out.write(raw.decode("utf-8", "replace"))
                    self.out.flush()
        except (PowertrainError, ValueError, OSError):
            pass  # the window closed or the pipe went away: the run is over
        finally:
            self.events.put(None)

    def _read_stderr(self) -> None:
        try:
            for raw in iter(self.proc.stderr.readline, b""):
                text = raw.decode("utf-8", "replace")
                self.stderr_tail.append(text.rstrip("\r\n"))
                self.err.write(text)
                self.err.flush()
        except (ValueError, OSError):
            pass

    # -- the main loop: evaluations, the target, the time limit, the end --------------------------
    def _loop(self, started_s: float) -> None:
        exited_at_s = None
        while True:
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                event = False
            self.leftovers.watch()
            if event is None:
                self.state.stdout_done = True
            elif event:
                self._told(*event)
            now_s = time.monotonic()
            if self.max_time_s is not None and now_s - started_s >= self.max_time_s:
                self._stop(Verdict.MAX_TIME, f"max_time_s ({self.max_time_s:g}) reached")
            if self.state.kill_at_s is not None and now_s >= self.state.kill_at_s:
                self._signal(signal.SIGKILL)
            if self.proc.poll() is None:
                continue
            if self.state.stdout_done and self.events.empty():
                return
            exited_at_s = exited_at_s or now_s
            if now_s - exited_at_s >= LEFTOVER_WAIT_S:  # left-behind processes hold the pipe
                self._signal(signal.SIGKILL)
                if now_s - exited_at_s >= 3 * LEFTOVER_WAIT_S:
                    return

    def _told(self, line: str, reading) -> None:
        state = self.state
        if state.verdict is not None and not self.let_finish:
            return  # stopping: later lines do not count
        fields, why = parse_line(line, self.target.metric)
        if fields is None:
            state.malformed += 1
            shown = line if len(line) <= 200 else line[:200] + "..."
            self.err.write(
                f"powertrain: warning: ignored a malformed POWERTRAIN line ({why}): {shown}\n"
            )
            self.err.flush()
            return
        point = _point(fields, reading, self.target.metric, state.points)
        state.points.append(point)
        self.on_eval(point)
        if state.reached is None and self.target.reached(point.val_accuracy):
            state.reached = point
            if not self.let_finish:
                self._stop(
                    Verdict.TARGET, f"target {self.target.describe()} reached at step {point.step}"
                )
        elif point.train_loss is not None and not math.isfinite(point.train_loss):
            self._stop(
                Verdict.DIVERGED, f"train_loss became {point.train_loss} at step {point.step}"
            )

    def _stop(self, verdict: Verdict, reason: str) -> None:
        if self.state.verdict is not None:
            return
        self.state.verdict, self.state.reason = verdict, reason
        self.state.kill_at_s = time.monotonic() + self.grace_s
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(self.proc.pid, signum)
        if signum == signal.SIGTERM:  # what left the group (a launcher's ranks) ends with it
            self.leftovers.signal(signum)

    # -- the outcome ------------------------------------------------------------------------------
    def _result(self, total) -> CommandResult:
        code = self.proc.returncode
        stopped = self.state.verdict is not None
        verdict, reason, error = self._classify(code, stopped)
        points, reached = self.state.points, self.state.reached
        outcome = RunOutcome(
            status=verdict.status,
            stop_reason=reason,
            total_energy_j=total.total_energy_j,
            energy_j=dict(total.energy_j),
            duration_s=total.duration_s,
            steps=points[-1].step if points else 0,
            final_val_accuracy=points[-1].val_accuracy if points else None,
            energy_to_target_j=reached.total_energy_j if reached else None,
            time_to_target_s=reached.elapsed_s if reached else None,
            steps_to_target=reached.step if reached else None,
            error=error,
            faults=list(total.faults),  # a counter reset travels with the figure
            verdict=verdict,
        )
        return CommandResult(outcome, list(points), None if stopped else code, stopped)

    def _classify(self, code: int, stopped: bool) -> tuple[Verdict, str, str | None]:
        state, target = self.state, self.target.describe()
        failed = not stopped and code != 0
        ended = _describe_exit(code)
        error = ("\n".join(self.stderr_tail) or "(nothing on stderr)") if failed else None
        if state.reached is not None:
            reason = state.reason or f"target {target} reached at step {state.reached.step}"
            return Verdict.TARGET, reason + (f"; the command then {ended}" if failed else ""), error
        if stopped:
            return state.verdict, state.reason, None
        if failed:
            return Verdict.FAILED, f"the command {ended}", error
        ignored = (
            f"; {state.malformed} malformed POWERTRAIN lines ignored" if state.malformed else ""
        )
        if not state.points:
            return Verdict.ENDED, _never_told(self.target.metric, ended) + ignored, None
        best = max if self.target.at_least is not None else min
        value = best(p.val_accuracy for p in state.points)
        return Verdict.ENDED, f"the command {ended} before {target} (best {value:g}){ignored}", None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _point(fields: dict[str, Any], reading, metric: str, points: list[EvalPoint]) -> EvalPoint:
    value = fields["value"]
    return EvalPoint(
        index=len(points),
        step=fields.get("step", len(points) + 1),
        epoch=fields.get("epoch", 0.0),
        samples_seen=fields.get("samples_seen", 0),
        train_loss=fields.get("train_loss"),
        val_accuracy=value,  # the target's metric (an accuracy, or a loss with at_most)
        elapsed_s=reading.duration_s,
        energy_j=dict(reading.energy_j),
        task_accuracies={metric: value},
    )


def _describe_exit(code: int) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def _never_told(metric: str, ended: str) -> str:
    return (
        f"the command {ended} without telling {metric}; print a line "
        f'POWERTRAIN {{"step": N, "{metric}": X}} (flushed) or call '
        f"powertrain.tell(step=N, {metric}=X) at each evaluation"
    )
