"""Executors: where a plan's run specs execute: here in turn (``local``), N processes on this
machine (``workers``), or a Ray cluster (``ray``), each behind one session contract (``base.py``).
``make_executor`` turns the ``run`` command's options and the study's ``workers:`` into one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from powertrain.errors import PowertrainError
from powertrain.study.executors.base import Ended, Executor, Job, Session, run_all
from powertrain.study.executors.local import LocalExecutor

if TYPE_CHECKING:
    from powertrain.meters.detect import Detection
    from powertrain.study.config import StudyConfig

__all__ = [
    "EXECUTORS",
    "Ended",
    "Executor",
    "Job",
    "LocalExecutor",
    "Session",
    "make_executor",
    "run_all",
    "visible_gpu_uuids",
]

EXECUTORS = ("local", "ray")


def visible_gpu_uuids(nvml: Any | None = None) -> list[str]:
    """The UUIDs of the GPUs this process may use (NVML, following CUDA_VISIBLE_DEVICES); empty
    where there is no NVIDIA GPU or no NVML."""
    from powertrain.meters.base import MeterError
    from powertrain.meters.nvml import import_nvml, nvml_call, nvml_text, visible_gpus

    try:
        nvml = nvml or import_nvml()
        nvml_call(nvml, nvml.nvmlInit)
    except MeterError:
        return []
    try:
        handles = visible_gpus(nvml).handles
        return [nvml_text(nvml_call(nvml, nvml.nvmlDeviceGetUUID, h)) for h in handles]
    finally:
        nvml.nvmlShutdown()


def make_executor(
    study: StudyConfig,
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    gpus_per_run: float | None = None,
    cpus_per_run: float | None = None,
    detection: Detection | None = None,
    artifacts_dir=None,
    gpu_uuids: list[str] | None = None,
) -> Executor:
    """The executor the options ask for: the local one for one worker.
    ``workers``: the command line's ``--workers`` (else the study's ``workers:``). ``detection``: the
    coordinator's meters, whose shared devices give the machine's total over the sweep."""
    if executor not in EXECUTORS:
        raise PowertrainError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    ray_only = {"--address": address}
    if executor == "ray":
        if workers not in (None, 1):
            raise PowertrainError(
                "--workers is for this machine; with --executor ray, Ray places runs"
            )
        from powertrain.study.executors.ray import RayExecutor

        return RayExecutor(
            address=address,
            gpus_per_run=0 if gpus_per_run is None else gpus_per_run,
            cpus_per_run=1 if cpus_per_run is None else cpus_per_run,
            artifacts_dir=artifacts_dir,
        )
    given = [name for name, value in ray_only.items() if value is not None]
    if given:
        raise PowertrainError(f"{given[0]} is an option of --executor ray")
    count = study.workers if workers is None else workers
    if not (isinstance(count, int) and 1 <= count <= 1024):
        raise PowertrainError(f"--workers {count!r}: give a number of processes from 1 to 1024")
    if count == 1 and gpus_per_run is None and cpus_per_run is None:
        return LocalExecutor(detection=detection, artifacts_dir=artifacts_dir)
    from powertrain.study.executors.workers import WorkersExecutor

    return WorkersExecutor(
        count,
        artifacts_dir=artifacts_dir,
        gpu_uuids=_gpus(study) if gpu_uuids is None else gpu_uuids,
        share_gpus=study.share_gpus,
        machine_meters=detection.meters if detection is not None else None,
        gpus_per_run=gpus_per_run,
        cpus_per_run=cpus_per_run,
    )


def _gpus(study: StudyConfig) -> list[str]:
    """The GPUs workers divide between them: none for a study on the CPU."""
    return [] if study.device == "cpu" else visible_gpu_uuids()
