"""What ``powertrain run`` shows while a study runs: which setup and seed, how far the run is against its
limit, its energy and validation accuracy against the target, the study's energy so far and the time
left, estimated from the runs done. How energy is obtained is said once, in the header.

On a terminal two live bars; anywhere else (CI logs, a pipe) plain lines, a status line at most every
``plain_every_s`` seconds, and no control characters.

Each run is numbered once, in the order runs first start (``[3/48]``: the third of the 48 to run), on
its start and its finish lines alike: a run a search paused and goes on with later, or begins again,
keeps its number ("started again"), and runs under way at once (workers) have numbers of their own.
The runs done count each run once, however many times it started.
"""

from __future__ import annotations

import sys
import time
from typing import IO

from rich.console import Console

from powertrain.records import Stage


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


_STATUS_STYLE = {"reached": "green", "censored": "yellow", "diverged": "red", "failed": "bold red"}


def _method_style(method: str) -> str:
    return "bold yellow" if method.startswith("ESTIMATE") else "bold green"


def _task_line(task) -> str:
    """What the study trains and to what target: a built-in task, or the user's command."""
    if task.command:
        return f"of `{task.command}`; target {task.target.describe()}"
    return (
        f"on {task.dataset} with {task.model}; target val_acc {task.target_accuracy:g} within "
        f"{task.max_epochs} epochs"
    )


def _is_stage(setup) -> bool:
    """A pretraining stage: not one of the grid's runs."""
    return getattr(setup, "stage", None) is Stage.PRETRAIN


class ProgressReporter:
    """Draws a study's progress (the runner's Reporter callbacks)."""

    def __init__(
        self,
        file: IO[str] | None = None,
        *,
        method: str | None = None,
        live: bool | None = None,
        clock=time.monotonic,
        plain_every_s: float = 15.0,
    ) -> None:
        file = file or sys.stderr
        self.console = Console(file=file, highlight=False)
        if not self.console.is_terminal:
            self.console = Console(file=file, highlight=False, width=160, no_color=True)
        self.live = self.console.is_terminal if live is None else live
        self.method = method
        self.clock = clock
        self.plain_every_s = plain_every_s
        self.progress = None
        self.study_task = self.run_task = None
        self.to_run = self.done = 0
        self.numbers: dict[tuple[str, int], int] = {}  # each run's, by (label, seed), as it starts
        self.finished: set[tuple[str, int]] = set()
        self.study_energy_j = 0.0
        self.durations_s: list[float] = []
        self.run_started_at = self.last_line_at = None
        self.current = ""
        self.stage = False
        self.target = self.max_epochs = None

    # -- the runner's callbacks ------------------------------------------------------------------

    def study_started(self, study, total: int, to_run: int) -> None:
        task = study.task
        builtin = not task.command
        self.target = task.target_accuracy if builtin else None
        self.max_epochs = task.max_epochs if builtin else None
        self.to_run = to_run
        setups = len(study.setups())
        self._say(
            f"study {study.name}: {total} runs ({setups} setups x {len(study.seeds)} seeds) "
            + _task_line(task)
            + (f" or {_duration(task.max_time_s)}" if task.max_time_s else "")
        )
        if self.method:
            self._say(f"energy: {self.method} for every figure below", _method_style(self.method))
        if total > to_run:
            self._say(
                f"resuming: {total - to_run} finished runs skipped (kept in the store), "
                f"{to_run} to run"
            )
        if to_run == 0:
            self._say("nothing to run: every run of this study is already in the store")
        if self.live and to_run:
            self._start_bars()

    def run_started(self, setup, seed: int) -> None:
        self.stage = _is_stage(setup)
        self.current = f"{setup.label()} seed={seed}"
        if self.stage:
            self.current = f"pretrain {self.current}"
        self.run_started_at = self.last_line_at = self.clock()
        if self.progress is not None:
            self.progress.reset(
                self.run_task,
                total=None if self.stage else self.max_epochs,
                description=self.current,
                info="starting",
            )
            self._update_study()
        else:
            again = not self.stage and (setup.label(), seed) in self.numbers
            number = "" if self.stage else f"{self._number(setup, seed)} "
            self._say(f"{number}{self.current}: started{' again' if again else ''}")

    def eval_point(self, point) -> None:
        info = self._run_info(point)
        if self.progress is not None:
            self.progress.update(self.run_task, completed=point.epoch, info=info)
            self._update_study(running_j=point.total_energy_j)
            return
        now = self.clock()
        if now - (self.last_line_at or now) >= self.plain_every_s:
            self.last_line_at = now
            self._say(f"  {self.current}: {info}; {self._study_info(point.total_energy_j)}")

    def run_finished(self, setup, seed: int, outcome, method: str) -> None:
        if self.method is None:
            self.method = method
            self._say(f"energy: {method} for every figure below", _method_style(method))
        self.study_energy_j += outcome.total_energy_j
        if not _is_stage(setup):
            self.finished.add((setup.label(), seed))
            self.done = len(self.finished)  # a run begun again and finished again counts once
            if self.run_started_at is not None:
                self.durations_s.append(self.clock() - self.run_started_at)
            self.run_started_at = None
        status = getattr(outcome.status, "value", outcome.status)
        self._say(self._finished_line(setup, seed, outcome), _STATUS_STYLE.get(status))
        self._update_study()

    def study_finished(self, result=None) -> None:
        self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    # -- what is shown ---------------------------------------------------------------------------

    def _start_bars(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.study_task = self.progress.add_task("study", total=self.to_run, info="")
        self.run_task = self.progress.add_task("", total=self.max_epochs, info="")

    def _run_info(self, point) -> str:
        limit = "" if self.stage or not self.max_epochs else f"/{self.max_epochs}"
        target = "" if self.stage or self.target is None else f"/{self.target:g}"
        return (
            f"epoch {point.epoch:.2f}{limit}, val_acc {point.val_accuracy:.3f}{target}, "
            f"{point.total_energy_j:.1f} J"
        )

    def time_left_s(self) -> float | None:
        """Mean duration of the runs done x the runs left, less what the current run has used."""
        if not self.durations_s:
            return None
        mean_s = sum(self.durations_s) / len(self.durations_s)
        left = max(0, self.to_run - self.done)
        running_s = self.clock() - self.run_started_at if self.run_started_at else 0.0
        in_flight = left > 0 and self.run_started_at is not None and not self.stage
        return max(0.0, left * mean_s - (min(running_s, mean_s) if in_flight else 0.0))

    def _study_info(self, running_j: float = 0.0) -> str:
        left = self.time_left_s()
        when = "time left after the first run" if left is None else f"~{_duration(left)} left"
        return f"study {self.study_energy_j + running_j:.0f} J so far, {when}"

    def _update_study(self, running_j: float = 0.0) -> None:
        if self.progress is None:
            return
        self.progress.update(
            self.study_task,
            completed=self.done,
            description=f"runs {self.done}/{self.to_run}",
            info=self._study_info(running_j),
        )

    def _finished_line(self, setup, seed: int, outcome) -> str:
        label = f"pretrain {setup.label()}" if _is_stage(setup) else setup.label()
        status = getattr(outcome.status, "value", outcome.status)
        acc = (
            ""
            if outcome.final_val_accuracy is None
            else f", val_acc {outcome.final_val_accuracy:.3f}"
        )
        if outcome.energy_to_target_j is not None:
            what = f"{outcome.energy_to_target_j:.1f} J to target"
        else:
            why = f"{outcome.verdict.words}: {outcome.stop_reason}"
            what = f"target not reached ({why}); {outcome.total_energy_j:.1f} J spent"
        line = f"{status:<9} {label} seed={seed}: {what}{acc}, {_duration(outcome.duration_s)}"
        if outcome.error:
            line += f"; error: {outcome.error}"
        if not self.live and not _is_stage(setup):
            line = f"{self._number(setup, seed)} {line}; {self._study_info()}"
        return line

    def _number(self, setup, seed: int) -> str:
        """The run's number (``[3/48]``), given when it first starts (or finishes, unstarted here)."""
        number = self.numbers.setdefault((setup.label(), seed), len(self.numbers) + 1)
        return f"[{number}/{self.to_run}]"

    def _say(self, line: str, style: str | None = None) -> None:
        self.console.print(
            line, style=style, markup=False, highlight=False, soft_wrap=not self.live
        )


def print_run_summary(headlines, ran: int, skipped: int, db: str, study: str, file=None) -> None:
    """The end of ``powertrain run``: what ran, the headline of each group, and the next command."""
    out = file or sys.stderr
    print(f"{ran} runs done, {skipped} already finished; results in {db}", file=out)
    for h in headlines:
        print(f"{h.title}: {h.text}", file=out)
    print(f"next: powertrain report --db {db} --study {study}", file=out)
