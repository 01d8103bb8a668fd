"""The GPU power limit as a grid axis: set each run's GPUs to a limit, and always put the old one back.

Setting a limit (``nvmlDeviceSetPowerManagementLimit``) needs root. ``check_power_limits`` says exactly
what is missing before anything trains. ``power_limit`` sets the limit for the length of a run and
restores the previous one afterwards, also after an exception. Because a run killed with SIGKILL never
reaches its ``finally``, every limit is written to a journal (the results store) before it is changed
and cleared once it is restored; ``restore_pending`` puts back whatever a killed run left changed.

NVML speaks milliwatts; powertrain speaks watts, and says which limit was asked for and which one the
driver enforces (it may round or clamp).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from powertrain.errors import PowertrainError
from powertrain.meters.nvml import nvml_call, nvml_text

GRID_KEY = "gpu_power_limit_w"


class PowerLimitJournal(Protocol):
    """Where a limit is noted before it is changed (the results store implements this)."""

    def pending_power_limits(self) -> dict[str, float]:
        """GPU UUID -> the limit in watts to put back, for every limit not yet restored."""

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        """Note the limit to put back on a GPU; None clears the note once it is restored."""


@dataclass(frozen=True)
class AppliedLimit:
    """One GPU's limit for one run: what was asked, what the driver enforces, what was there before."""

    gpu_uuid: str
    requested_w: float
    enforced_w: float
    previous_w: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpu_uuid": self.gpu_uuid,
            "requested_w": self.requested_w,
            "enforced_w": self.enforced_w,
            "previous_w": self.previous_w,
        }


def check_power_limits(
    nvml: Any,
    handles: list[Any],
    limits_w: list[float],
    *,
    euid: Callable[[], int] = os.geteuid,
) -> None:
    """Refuse, before anything trains, limits that cannot be set: not root, no GPU, out of range."""
    for limit_w in limits_w:
        if not (isinstance(limit_w, int | float) and math.isfinite(limit_w) and limit_w > 0):
            raise PowertrainError(
                f"grid.{GRID_KEY}: {limit_w!r} is not a power limit; give watts, e.g. 250"
            )
    if not limits_w:
        return
    if not handles:
        raise PowertrainError(
            f"grid.{GRID_KEY} sets GPU power limits, but this process sees no GPU (NVML found none,"
            " or CUDA_VISIBLE_DEVICES hides them all); remove the axis or run where the GPUs are"
        )
    if euid() != 0:
        raise PowertrainError(
            f"grid.{GRID_KEY} needs root: NVML lets only root change a GPU's power limit"
            " (nvmlDeviceSetPowerManagementLimit). Run powertrain as root (or with sudo), or remove"
            " the axis; nothing was trained"
        )
    for handle in handles:
        low_mw, high_mw = nvml_call(nvml, nvml.nvmlDeviceGetPowerManagementLimitConstraints, handle)
        name = nvml_text(nvml_call(nvml, nvml.nvmlDeviceGetName, handle))
        for limit_w in limits_w:
            if not low_mw <= limit_w * 1000 <= high_mw:
                raise PowertrainError(
                    f"grid.{GRID_KEY}: {limit_w:g} W is outside what the {name} allows"
                    f" ({low_mw / 1000:g}-{high_mw / 1000:g} W)"
                )


def restore_pending(nvml: Any, handles: list[Any], journal: PowerLimitJournal) -> list[str]:
    """Put back the limits a killed run left changed on these GPUs; returns what was restored."""
    pending = journal.pending_power_limits()
    restored = []
    for handle in handles:
        uuid = nvml_text(nvml_call(nvml, nvml.nvmlDeviceGetUUID, handle))
        if uuid not in pending:
            continue
        nvml_call(nvml, nvml.nvmlDeviceSetPowerManagementLimit, handle, round(pending[uuid] * 1000))
        journal.note_power_limit(uuid, None)
        restored.append(
            f"GPU {uuid}: power limit {pending[uuid]:g} W restored (left by a killed run)"
        )
    return restored


@contextlib.contextmanager
def power_limit(
    nvml: Any, handles: list[Any], limit_w: float, journal: PowerLimitJournal
) -> Iterator[list[AppliedLimit]]:
    """Set every GPU in ``handles`` to ``limit_w`` for the block; the previous limits come back after
    it, whatever happens in it. The journal holds each previous limit while it is changed."""
    applied: list[AppliedLimit] = []
    try:
        for handle in handles:
            uuid = nvml_text(nvml_call(nvml, nvml.nvmlDeviceGetUUID, handle))
            previous_w = nvml_call(nvml, nvml.nvmlDeviceGetPowerManagementLimit, handle) / 1000
            journal.note_power_limit(
                uuid, previous_w
            )  # before the change: a kill can come any time
            nvml_call(nvml, nvml.nvmlDeviceSetPowerManagementLimit, handle, round(limit_w * 1000))
            enforced_w = nvml_call(nvml, nvml.nvmlDeviceGetEnforcedPowerLimit, handle) / 1000
            applied.append(AppliedLimit(uuid, float(limit_w), enforced_w, previous_w))
        yield applied
    finally:
        for handle, limit in zip(handles, applied, strict=False):
            nvml_call(
                nvml, nvml.nvmlDeviceSetPowerManagementLimit, handle, round(limit.previous_w * 1000)
            )
            journal.note_power_limit(limit.gpu_uuid, None)


def study_limits_w(study: Any) -> list[float]:
    """Every GPU power limit a study's runs (and its pretraining stage) ask for, in order."""
    trains = [setup.train for setup in study.setups()]
    if study.pretrain is not None:
        trains.append(study.pretrain.train)
    limits = [t.gpu_power_limit_w for t in trains if t.gpu_power_limit_w is not None]
    return sorted(set(limits))


@dataclass
class GpuPowerControl:
    """The GPUs this process may use, opened to set their power limits (NVML initialised once)."""

    nvml: Any
    handles: list[Any]

    @classmethod
    def open(
        cls,
        limits_w: list[float],
        *,
        nvml: Any | None = None,
        environ: Any = None,
        euid: Callable[[], int] = os.geteuid,
    ) -> GpuPowerControl | None:
        """None when no run sets a limit; else the visible GPUs, checked (root, GPU, range)."""
        if not limits_w:
            return None
        from powertrain.meters.nvml import import_nvml, visible_gpus

        try:
            nvml = nvml or import_nvml()
            nvml_call(nvml, nvml.nvmlInit)
            handles = visible_gpus(nvml, environ).handles
        except PowertrainError as exc:
            raise PowertrainError(
                f"grid.{GRID_KEY} sets GPU power limits, but NVML is not usable here: {exc};"
                " remove the axis or run where the GPUs are"
            ) from None
        check_power_limits(nvml, handles, limits_w, euid=euid)
        return cls(nvml, handles)

    def restore_pending(self, journal: PowerLimitJournal) -> list[str]:
        """Put back what a killed run left changed on these GPUs (call before the first run)."""
        return restore_pending(self.nvml, self.handles, journal)

    @contextlib.contextmanager
    def applied(
        self, limit_w: float | None, journal: PowerLimitJournal, hardware: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """``hardware`` with the limit asked for and what the driver enforces, the GPUs at that limit
        for the block (unchanged, and ``hardware`` as it is, when ``limit_w`` is None)."""
        if limit_w is None:
            yield hardware
            return
        with power_limit(self.nvml, self.handles, limit_w, journal) as applied:
            yield {
                **hardware,
                GRID_KEY: {"requested_w": limit_w, "gpus": [a.to_dict() for a in applied]},
            }
