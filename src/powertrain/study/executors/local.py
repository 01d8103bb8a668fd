"""The local executor: every run in this process, one at a time (a session of capacity 1 whose
``wait`` executes the run handed to it), in one ``RunEnv``, so data sets are loaded once."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from powertrain.models.registry import check_user_model
from powertrain.store.base import DEFAULT_ARTIFACTS
from powertrain.study.execute import RunEnv, RunSink, run_claimed
from powertrain.study.executors.base import Ended, Job

if TYPE_CHECKING:
    from powertrain.meters.detect import Detection
    from powertrain.study.config import StudyConfig

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs here. ``env``: an environment already opened for the study (else one is opened by
    ``prepare`` with ``detection`` and ``artifacts_dir``, or the coordinator's folder)."""

    machine_total = None  # nothing is shared: each run's meters are the machine's

    def __init__(
        self,
        *,
        env: RunEnv | None = None,
        detection: Detection | None = None,
        artifacts_dir: str | Path | None = None,
    ) -> None:
        self.env = env
        self.detection = detection
        self.artifacts_dir = artifacts_dir

    def prepare(self, study: StudyConfig, artifacts_dir: Path) -> None:
        """Open the environment now, so a bad device or missing meters fail before anything runs."""
        if self.env is None or self.env.study is not study:
            self.env = RunEnv.open(
                study, detection=self.detection, artifacts_dir=self.artifacts_dir or artifacts_dir
            )

    @contextlib.contextmanager
    def session(
        self, study: StudyConfig, sink: RunSink, runs: int | None = None
    ) -> Iterator[LocalSession]:
        self.prepare(study, Path(self.artifacts_dir or DEFAULT_ARTIFACTS))  # unless prepared
        env = self.env
        if not study.task.command:  # every data set loaded, every label checked, the model probed
            check_user_model(study.task.model, study.task.model_options, env.tasks())
        if env.power is not None:  # limits a killed run left changed, before anything trains
            for line in env.power.restore_pending(sink):
                log.warning("%s", line)
        yield LocalSession(env, sink)


class LocalSession:
    """Capacity 1: ``submit`` keeps the job, ``wait`` runs it here to its end."""

    resumes = True  # this process's own disk

    def __init__(self, env: RunEnv, sink: RunSink) -> None:
        self.env, self.sink = env, sink
        self.job: Job | None = None

    def capacity(self) -> int:
        return 0 if self.job is not None else 1

    def in_flight(self) -> int:
        return 0 if self.job is None else 1

    def submit(self, job: Job) -> None:
        if self.job is not None:
            raise RuntimeError("the local session runs one run at a time: wait for it first")
        self.job = job

    def wait(self) -> list[Ended]:
        if self.job is None:
            return []
        job, self.job = self.job, None
        base = self.env.stop_handlers
        if job.stop is not None:  # the coordinator's stop, consulted after the loop's own
            self.env.stop_handlers = lambda spec: (job.stop,)
        try:
            outcome = run_claimed(job.spec, self.env, self.sink, resume_id=job.resume_id)
        finally:
            self.env.stop_handlers = base
        return [Ended(job.spec, outcome)]
