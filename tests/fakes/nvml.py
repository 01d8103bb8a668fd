"""A fake ``pynvml`` module (nvidia-ml-py), behaving as the real one does.

Each fake GPU has a UUID, a name, a power reading in milliwatts and, like Volta and newer, a total-energy
counter in millijoules, or, like older GPUs, none (NOT_SUPPORTED). Errors are ``NVMLError`` instances
carrying ``.value`` with the real error codes.
"""

from __future__ import annotations

from dataclasses import dataclass

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    energy_mj: int | None = 0  # None: no energy counter (pre-Volta)
    power_mw: int = 100_000
    power_limit_mw: int = 700_000
    lost: bool = False
    limit_constraints_mw: tuple[int, int] = (200_000, 700_000)


class FakeNvml:
    NVMLError = NVMLError
    #: How often its counter moves (``powertrain.meters.nvml.UPDATE_PERIOD_ATTR``): at every read.
    POWERTRAIN_COUNTER_PERIOD_S = 0.0

    def __init__(
        self, gpus: list[FakeGpu], init_error: int | None = None, root: bool = True
    ) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.root = root  # only root may set a power limit
        self.initialised = 0
        for name, value in globals().items():
            if name.startswith("NVML_"):
                setattr(self, name, value)

    def _check(self) -> None:
        if self.initialised <= 0:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)

    def _gpu(self, handle: int) -> FakeGpu:
        self._check()
        gpu = self.gpus[handle]
        if gpu.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return gpu

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self._check()
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._check()
        if not 0 <= index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._gpu(handle).uuid

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self._gpu(handle).name

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return self._gpu(handle).power_limit_mw

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._gpu(handle).power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        gpu = self._gpu(handle)
        if gpu.energy_mj is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return gpu.energy_mj

    def nvmlDeviceGetPowerManagementLimit(self, handle: int) -> int:
        return self._gpu(handle).power_limit_mw

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: int) -> list[int]:
        return list(self._gpu(handle).limit_constraints_mw)

    def nvmlDeviceSetPowerManagementLimit(self, handle: int, limit_mw: int) -> None:
        gpu = self._gpu(handle)
        if not self.root:
            raise NVMLError(NVML_ERROR_NO_PERMISSION)
        low, high = gpu.limit_constraints_mw
        if not low <= limit_mw <= high:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        gpu.power_limit_mw = limit_mw
