"""NVIDIA GPU energy through NVML (the ``nvidia-ml-py`` package, imported as ``pynvml``).

Volta and newer GPUs have a total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules
since the driver was loaded); older ones answer NOT_SUPPORTED and we integrate
``nvmlDeviceGetPowerUsage`` (milliwatts) instead, labelled ``sampled_power``. A counter that goes down
was reset (a driver reload) or read wrong: the counter need not restart at zero, so that interval's
energy is unknown, left out and noted as a fault on the figure; so is a jump beyond what the GPU can
draw, and a power reading that is not finite or beyond what the GPU can draw.

Only the GPUs this process may use are measured: ``CUDA_VISIBLE_DEVICES`` holds indices or (prefixes
of) UUIDs and, as CUDA does, the list ends at its first entry that names no GPU. Indices are NVML's,
which is PCI bus order; CUDA numbers GPUs fastest-first unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, so
with several GPUs we say so when that variable is not set.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from powertrain.meters.base import Component, Meter, MeterError, Method, Provenance
from powertrain.meters.counters import POWER_MARGIN, CounterSpec, counter_step, finite_power_w

_HINTS = {
    "LIBRARY_NOT_FOUND": "no NVIDIA driver library (libnvidia-ml.so) on this machine",
    "DRIVER_NOT_LOADED": "the NVIDIA driver is not loaded",
    "NO_PERMISSION": "this user may not query the GPU; ask the administrator",
    "GPU_IS_LOST": "the GPU fell off the bus; the run's GPU energy is incomplete",
}
#: When the GPU states no power limit: more than any one GPU draws today.
GENEROUS_GPU_POWER_W = 1500.0
#: How often NVML's energy counter and power reading move: every 100 ms, idle and under load, on an
#: H200 with driver 580.159 (``benchmarks/device_checks.py``'s counter check, read about every
#: 6 ms; so did a second H200's). Zeus notes the same: a window shorter than it can read 0 J.
#: Other GPUs and drivers may differ; this is the one we measured.
NVML_UPDATE_PERIOD_S = 0.1
#: The attribute by which a stand-in for pynvml (``POWERTRAIN_NVML_MODULE``, the tests' fakes) states
#: its counter's own update period (theirs move at every read).
UPDATE_PERIOD_ATTR = "POWERTRAIN_COUNTER_PERIOD_S"


#: Names a module to use in place of ``pynvml`` (tests give each simulated node of a distributed job
#: its own fake GPUs this way, in processes they cannot pass a fake to); unset, pynvml is used.
NVML_MODULE_ENV = "POWERTRAIN_NVML_MODULE"


def import_nvml() -> Any:
    """The ``pynvml`` module of nvidia-ml-py (or the module ``POWERTRAIN_NVML_MODULE`` names), or
    MeterError when it is not installed."""
    name = os.environ.get(NVML_MODULE_ENV) or "pynvml"
    try:
        return importlib.import_module(name)
    except ImportError:
        if name != "pynvml":
            raise MeterError(f"{NVML_MODULE_ENV}={name!r} names no module that imports") from None
        raise MeterError(
            "the nvidia-ml-py package is not installed (pip install nvidia-ml-py)"
        ) from None


def library_missing() -> str | None:
    """Why NVML cannot work here (see ``_library_missing``); None when ``POWERTRAIN_NVML_MODULE``
    names a module to use instead, which needs no driver library."""
    return None if os.environ.get(NVML_MODULE_ENV) else _library_missing()


@functools.lru_cache(maxsize=1)
def _library_missing() -> str | None:
    """Why NVML cannot work on this machine before ``pynvml`` is even imported (importing it costs
    more than the rest of starting a measurement): on Linux, no ``libnvidia-ml.so.1`` to load, as
    ``pynvml`` would load it. None when it loads, and off Linux (``pynvml`` decides there). Kept for
    the process: a driver library does not appear under a running program."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return "NVML nvmlInit failed: LIBRARY_NOT_FOUND (" + _HINTS["LIBRARY_NOT_FOUND"] + ")"
    return None


def _error_name(nvml: Any, exc: Exception) -> str:
    code = getattr(exc, "value", None)
    for attr in dir(nvml):
        if attr.startswith("NVML_ERROR_") and getattr(nvml, attr) == code:
            return attr[len("NVML_ERROR_") :]
    return str(exc) or type(exc).__name__


def nvml_call(nvml: Any, fn, *args):
    """Call an NVML function, turning its errors into one clear MeterError."""
    try:
        return fn(*args)
    except nvml.NVMLError as exc:
        name = _error_name(nvml, exc)
        hint = _HINTS.get(name, "")
        raise MeterError(
            f"NVML {fn.__name__} failed: {name}" + (f" ({hint})" if hint else "")
        ) from None


@dataclass(frozen=True)
class VisibleGpus:
    handles: list[Any]
    labels: list[str]
    notes: list[str]


def visible_gpus(nvml: Any, environ: Mapping[str, str] | None = None) -> VisibleGpus:
    """The GPUs this process may use, following CUDA_VISIBLE_DEVICES as CUDA reads it."""
    env = os.environ if environ is None else environ
    count = nvml_call(nvml, nvml.nvmlDeviceGetCount)
    all_handles = [nvml_call(nvml, nvml.nvmlDeviceGetHandleByIndex, i) for i in range(count)]
    spec = env.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        return VisibleGpus(all_handles, [str(i) for i in range(count)], [])
    uuids = [nvml_text(nvml_call(nvml, nvml.nvmlDeviceGetUUID, h)) for h in all_handles]
    handles, labels, notes = [], [], []
    for entry in (e.strip() for e in spec.split(",")):
        if entry.lstrip("-").isdigit():
            index = int(entry)
            if not 0 <= index < count:
                break
            handles.append(all_handles[index])
            labels.append(str(index))
        elif entry.startswith("MIG-"):
            notes.append(
                f"{entry}: a MIG instance; NVML reports energy per physical GPU only, so it is not "
                "measured (name the parent GPU's UUID to measure the whole GPU)"
            )
        else:
            matches = [i for i, u in enumerate(uuids) if entry and u.startswith(entry)]
            if len(matches) != 1:
                break
            handles.append(all_handles[matches[0]])
            labels.append(uuids[matches[0]])
    if (
        count > 1
        and env.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID"
        and any(label.isdigit() for label in labels)
    ):
        notes.append(
            "CUDA_VISIBLE_DEVICES holds indices but CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA may "
            "number the GPUs differently from NVML. Set CUDA_DEVICE_ORDER=PCI_BUS_ID."
        )
    return VisibleGpus(handles, labels, notes)


def nvml_text(value: Any) -> str:
    """A string NVML gave (bytes in older bindings) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlMeter(Meter):
    """The energy of the visible NVIDIA GPUs, summed.

    ``nvml`` is the pynvml module (or a fake of it). NVML's init and shutdown are reference-counted,
    so the meter initialises it on opening and shuts it down on closing.
    """

    name = "nvml"

    def __init__(
        self,
        nvml: Any | None = None,
        environ: Mapping[str, str] | None = None,
        clock=time.monotonic,
    ) -> None:
        super().__init__(Component.GPU)
        self._nvml = nvml if nvml is not None else import_nvml()
        nvml_call(self._nvml, self._nvml.nvmlInit)
        self._open = True
        try:
            self._open_gpus(environ, clock)
        except BaseException:
            self.close()
            raise

    def _open_gpus(self, environ: Mapping[str, str] | None, clock) -> None:
        gpus = visible_gpus(self._nvml, environ)
        if not gpus.handles:
            raise MeterError(
                "no GPU visible to this process (CUDA_VISIBLE_DEVICES="
                f"{(environ if environ is not None else os.environ).get('CUDA_VISIBLE_DEVICES')!r})"
            )
        self._handles = gpus.handles
        self._clock = clock
        self.notes = list(gpus.notes)
        self.resets = 0
        self.gpus = [
            self._describe(h, label) for h, label in zip(gpus.handles, gpus.labels, strict=True)
        ]
        self._specs = [
            CounterSpec(
                f"GPU {gpu['index']}",
                1e3,
                finite_power_w(gpu.get("power_limit_w")) or GENEROUS_GPU_POWER_W,
            )
            for gpu in self.gpus
        ]
        self._last_mj = [self._counter_mj(h) for h in self._handles]
        self._has_counter = [mj is not None for mj in self._last_mj]
        self.needs_sampling = not all(self._has_counter)
        self._last_t_s = self._clock()
        self._last_power_w = [
            0.0 if c else self._power_w(h)
            for h, c in zip(self._handles, self._has_counter, strict=True)
        ]
        self._total_j = 0.0
        self._gpu_j = [0.0] * len(self._handles)

    def _describe(self, handle: Any, label: str) -> dict[str, Any]:
        nv = self._nvml
        info: dict[str, Any] = {
            "index": label,
            "name": nvml_text(nvml_call(nv, nv.nvmlDeviceGetName, handle)),
            "uuid": nvml_text(nvml_call(nv, nv.nvmlDeviceGetUUID, handle)),
        }
        try:
            info["power_limit_w"] = nvml_call(nv, nv.nvmlDeviceGetEnforcedPowerLimit, handle) / 1000
        except MeterError:
            info["power_limit_w"] = None
        return info

    def _counter_mj(self, handle: Any) -> int | None:
        nv = self._nvml
        try:
            return int(nv.nvmlDeviceGetTotalEnergyConsumption(handle))
        except nv.NVMLError as exc:
            if getattr(exc, "value", None) == nv.NVML_ERROR_NOT_SUPPORTED:
                return None
            raise MeterError(
                f"NVML nvmlDeviceGetTotalEnergyConsumption failed: {_error_name(nv, exc)}"
            ) from None

    def update_period_s(self) -> float:
        return float(getattr(self._nvml, UPDATE_PERIOD_ATTR, NVML_UPDATE_PERIOD_S))

    def _power_w(self, handle: Any) -> float:
        return nvml_call(self._nvml, self._nvml.nvmlDeviceGetPowerUsage, handle) / 1000

    def _read_energy_j(self) -> float:
        now_s = self._clock()
        elapsed_s = now_s - self._last_t_s
        for i, handle in enumerate(self._handles):
            if self._has_counter[i]:
                now_mj = self._counter_mj(handle)
                if now_mj is None:
                    raise MeterError("the GPU's energy counter stopped answering (NOT_SUPPORTED)")
                step = counter_step(self._specs[i], self._last_mj[i], now_mj, elapsed_s)
                if step.note:
                    self.resets += now_mj < self._last_mj[i]
                    self.note_fault(step.note)
                self._gpu_j[i] += step.delta_units / 1000
                self._last_mj[i] = now_mj
            else:
                power_w = self._checked_power_w(i, handle)
                self._gpu_j[i] += 0.5 * (power_w + self._last_power_w[i]) * elapsed_s
                self._last_power_w[i] = power_w
        self._last_t_s = now_s
        self._total_j = sum(self._gpu_j)
        return self._total_j

    def energy_by_gpu_j(self) -> dict[str, float]:
        """Joules per GPU (by UUID) since the meter was opened, read now: what a distributed job
        adds up once per GPU (``tracking/combine.py``)."""
        with self._lock:
            self._read_energy_j()
            return {gpu["uuid"]: j for gpu, j in zip(self.gpus, self._gpu_j, strict=True)}

    def _checked_power_w(self, i: int, handle: Any) -> float:
        """The GPU's power now; a reading that cannot be true is noted and the last one kept."""
        power_w = self._power_w(handle)
        limit_w = self._specs[i].max_power_w * POWER_MARGIN
        if math.isfinite(power_w) and 0 <= power_w <= limit_w:
            return power_w
        self.note_fault(
            f"{self._specs[i].label}: power reading of {power_w} W is not a possible figure "
            f"(0 to {limit_w:g} W); the previous reading was used for that interval"
        )
        return self._last_power_w[i]

    @property
    def provenance(self) -> Provenance:
        method = Method.COUNTER if all(self._has_counter) else Method.SAMPLED_POWER
        details: dict[str, Any] = {
            "gpus": [
                {**gpu, "source": "energy counter" if c else "power integrated"}
                for gpu, c in zip(self.gpus, self._has_counter, strict=True)
            ]
        }
        if self.notes:
            details["notes"] = self.notes
        return Provenance(meter=self.name, method=method, estimated=False, details=details)

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        with contextlib.suppress(self._nvml.NVMLError):  # e.g. after a lost GPU: nothing to release
            self._nvml.nvmlShutdown()
