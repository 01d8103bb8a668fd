"""The local executor: every run in this process, one after another, in one ``RunEnv`` (so data sets
are loaded once)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from powertrain.models.registry import check_user_model
from powertrain.study.execute import RunEnv, RunSink, run_claimed

if TYPE_CHECKING:
    from powertrain.meters.detect import Detection
    from powertrain.records import RunOutcome
    from powertrain.study.config import StudyConfig
    from powertrain.study.plan import RunSpec
    from powertrain.study.result import Reporter

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs specs in order here. ``env``: an environment already opened for the study (else one is
    opened with ``detection`` and ``artifacts_dir``)."""

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

    def open_env(self, study: StudyConfig) -> RunEnv:
        if self.env is None or self.env.study is not study:
            self.env = RunEnv.open(
                study, detection=self.detection, artifacts_dir=self.artifacts_dir
            )
        return self.env

    def run(
        self,
        study: StudyConfig,
        specs: list[RunSpec],
        sink: RunSink,
        reporter: Reporter | None = None,
    ) -> dict[str, RunOutcome]:
        """The reporter hears of each run from the sink (``StoreSink``); here it is not needed."""
        if not specs:
            return {}
        env = self.open_env(study)
        if not study.task.command:  # every data set loaded, every label checked, the model probed
            check_user_model(study.task.model, study.task.model_options, env.tasks())
        if env.power is not None:  # limits a killed run left changed, before anything trains
            for line in env.power.restore_pending(sink):
                log.warning("%s", line)
        outcomes = {}
        for spec in specs:
            outcome = run_claimed(spec, env, sink)  # None: another process holds it
            if outcome is not None:
                outcomes[spec.run_key] = outcome
        return outcomes
