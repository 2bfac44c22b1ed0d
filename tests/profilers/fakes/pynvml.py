"""A fake ``pynvml`` (nvidia-ml-py) for CPU-only machines: the subset of the API the ``nvml``
profiler and the environment report call, with the real exception classes' names, the real
return shapes, and the library's rules:

* every call but ``nvmlInit`` raises ``NVMLError_Uninitialized`` unless NVML is initialised;
  ``nvmlInit`` and ``nvmlShutdown`` count (as NVML does), so after the last ``nvmlShutdown``
  every call fails again;
* readings move with time ``t`` (seconds since this module was imported, "since the driver
  loaded"), so a reading depends on when it is taken:

  device 0 (PCI bus 0x17)
      utilization  gpu 80 + 15 sin(2 pi t / 0.7 s) %, memory 30 + 10 sin(...) %, rounded
      power        instantaneous (field NVML_FI_DEV_POWER_INSTANT) 250 + 50 sin(2 pi t / 0.5 s) W;
                   nvmlDeviceGetPowerUsage is, as on recent GPUs, the mean of it over the last
                   1 s, which is a constant 250 W (the period divides 1 s) once t >= 1 s
      energy       counter in mJ: 1e9 + the integral of the instantaneous power since t = 0
                   (monotonic)
      SM clock     1980 MHz, 1755 MHz while the instantaneous power is above 280 W (throttled)
  device 1 (PCI bus 0x65): an older GPU
      utilization  5 %, memory 1 %; power 100 W from nvmlDeviceGetPowerUsage only (the power
                   field answers NVML_ERROR_NOT_SUPPORTED); no energy counter
                   (NVMLError_NotSupported); SM clock 1410 MHz

  memory used 2 GiB and 512 MiB, temperature 55 and 40 C.

``calls`` counts calls by name. FAKE_PYNVML_MODE=nodriver makes nvmlInit raise
NVMLError_LibraryNotFound, =driver_not_loaded NVMLError_DriverNotLoaded. Placed first on
PYTHONPATH by the tests.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

FAKE = True
NVML_SUCCESS = 0
NVML_ERROR_NOT_SUPPORTED = 3
NVML_CLOCK_SM = 1
NVML_TEMPERATURE_GPU = 0
NVML_VALUE_TYPE_UNSIGNED_INT = 1
NVML_FI_DEV_POWER_INSTANT = 186
DRIVER_LOADED_AT = time.perf_counter()


class NVMLError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class NVMLError_LibraryNotFound(NVMLError):
    def __init__(self) -> None:
        super().__init__("NVML Shared Library Not Found")


class NVMLError_DriverNotLoaded(NVMLError):
    def __init__(self) -> None:
        super().__init__("Driver Not Loaded")


class NVMLError_NotSupported(NVMLError):
    def __init__(self) -> None:
        super().__init__("Not Supported")


class NVMLError_Uninitialized(NVMLError):
    def __init__(self) -> None:
        super().__init__("Uninitialized")


class NVMLError_InvalidArgument(NVMLError):
    def __init__(self) -> None:
        super().__init__("Invalid Argument")


@dataclass
class c_nvmlUtilization_t:
    gpu: int
    memory: int


@dataclass
class c_nvmlMemory_t:
    total: int
    free: int
    used: int


@dataclass
class nvmlPciInfo_t:
    busId: bytes
    domain: int
    bus: int
    device: int
    pciDeviceId: int


@dataclass
class c_nvmlValue_t:
    dVal: float = 0.0
    uiVal: int = 0
    ulVal: int = 0
    ullVal: int = 0
    sllVal: int = 0
    siVal: int = 0
    usVal: int = 0


@dataclass
class c_nvmlFieldValue_t:
    fieldId: int
    scopeId: int = 0
    timestamp: int = 0
    latencyUsec: int = 0
    valueType: int = 0
    nvmlReturn: int = NVML_SUCCESS
    value: c_nvmlValue_t = field(default_factory=c_nvmlValue_t)


@dataclass(frozen=True)
class _Gpu:
    index: int
    name: str
    uuid: str
    bus: int
    used: int
    temperature: int


GPUS = (
    _Gpu(0, "NVIDIA H200", "GPU-11111111-2222-3333-4444-000000000000", 0x17, 2 * 2**30, 55),
    _Gpu(1, "NVIDIA H200", "GPU-11111111-2222-3333-4444-000000000001", 0x65, 512 * 2**20, 40),
)
POWER_PERIOD_S, UTIL_PERIOD_S = 0.5, 0.7
_state = {"initialized": 0}
calls: dict[str, int] = {}


def now() -> float:
    """Seconds since the fake driver loaded: the time the readings follow."""
    return time.perf_counter() - DRIVER_LOADED_AT


def instant_power_w(t: float) -> float:
    return 250.0 + 50.0 * math.sin(2 * math.pi * t / POWER_PERIOD_S)


def energy_j(t: float) -> float:
    """The integral of :func:`instant_power_w` from 0 to ``t``."""
    return 250.0 * t + 50.0 * POWER_PERIOD_S / (2 * math.pi) * (1 - math.cos(2 * math.pi * t / POWER_PERIOD_S))


def average_power_w(t: float) -> float:
    """The mean instantaneous power over the last second (what ``nvmlDeviceGetPowerUsage``
    gives on recent GPUs)."""
    start = max(0.0, t - 1.0)
    return (energy_j(t) - energy_j(start)) / (t - start) if t > start else instant_power_w(t)


def utilization_pct(t: float) -> float:
    return 80.0 + 15.0 * math.sin(2 * math.pi * t / UTIL_PERIOD_S)


def _call(name: str) -> None:
    """Count the call; raise NVMLError_Uninitialized outside nvmlInit .. nvmlShutdown."""
    calls[name] = calls.get(name, 0) + 1
    if _state["initialized"] <= 0:
        raise NVMLError_Uninitialized()


def nvmlInit() -> None:
    calls["nvmlInit"] = calls.get("nvmlInit", 0) + 1
    mode = os.environ.get("FAKE_PYNVML_MODE", "")
    if mode == "nodriver":
        raise NVMLError_LibraryNotFound()
    if mode == "driver_not_loaded":
        raise NVMLError_DriverNotLoaded()
    _state["initialized"] += 1


def nvmlShutdown() -> None:
    _call("nvmlShutdown")
    _state["initialized"] -= 1


def nvmlSystemGetDriverVersion() -> str:
    _call("nvmlSystemGetDriverVersion")
    return "570.124.06"


def nvmlDeviceGetCount() -> int:
    _call("nvmlDeviceGetCount")
    return len(GPUS)


def nvmlDeviceGetHandleByIndex(index: int) -> _Gpu:
    _call("nvmlDeviceGetHandleByIndex")
    if not 0 <= index < len(GPUS):
        raise NVMLError_InvalidArgument()
    return GPUS[index]


def nvmlDeviceGetName(handle: _Gpu) -> str:
    _call("nvmlDeviceGetName")
    return handle.name


def nvmlDeviceGetUUID(handle: _Gpu) -> str:
    _call("nvmlDeviceGetUUID")
    return handle.uuid


def nvmlDeviceGetPciInfo(handle: _Gpu) -> nvmlPciInfo_t:
    _call("nvmlDeviceGetPciInfo")
    return nvmlPciInfo_t(f"00000000:{handle.bus:02X}:00.0".encode(), 0, handle.bus, 0, 0x233510DE)


def nvmlDeviceGetUtilizationRates(handle: _Gpu) -> c_nvmlUtilization_t:
    _call("nvmlDeviceGetUtilizationRates")
    if handle.index == 1:
        return c_nvmlUtilization_t(5, 1)
    gpu = utilization_pct(now())
    return c_nvmlUtilization_t(round(gpu), round(30 + (gpu - 80) * 10 / 15))


def nvmlDeviceGetMemoryInfo(handle: _Gpu) -> c_nvmlMemory_t:
    _call("nvmlDeviceGetMemoryInfo")
    total = 141 * 2**30
    return c_nvmlMemory_t(total, total - handle.used, handle.used)


def nvmlDeviceGetPowerUsage(handle: _Gpu) -> int:
    _call("nvmlDeviceGetPowerUsage")
    return 100_000 if handle.index == 1 else round(average_power_w(now()) * 1000)


def nvmlDeviceGetFieldValues(handle: _Gpu, fieldIds: list[Any]) -> list[c_nvmlFieldValue_t]:
    _call("nvmlDeviceGetFieldValues")
    values = []
    for field_id in fieldIds:
        field_id, scope = field_id if isinstance(field_id, tuple) else (field_id, 0)
        value = c_nvmlFieldValue_t(field_id, scope, timestamp=int(time.time() * 1e6))
        if field_id == NVML_FI_DEV_POWER_INSTANT and handle.index == 0:
            value.valueType = NVML_VALUE_TYPE_UNSIGNED_INT
            value.value.uiVal = round(instant_power_w(now()) * 1000)
        else:
            value.nvmlReturn = NVML_ERROR_NOT_SUPPORTED
        values.append(value)
    return values


def nvmlDeviceGetTotalEnergyConsumption(handle: _Gpu) -> int:
    _call("nvmlDeviceGetTotalEnergyConsumption")
    if handle.index == 1:
        raise NVMLError_NotSupported()
    return 10**9 + int(energy_j(now()) * 1000)


def nvmlDeviceGetClockInfo(handle: _Gpu, clock: int) -> int:
    _call("nvmlDeviceGetClockInfo")
    if clock != NVML_CLOCK_SM:
        raise NVMLError_InvalidArgument()
    if handle.index == 1:
        return 1410
    return 1755 if instant_power_w(now()) > 280.0 else 1980


def nvmlDeviceGetTemperature(handle: _Gpu, sensor: int) -> int:
    _call("nvmlDeviceGetTemperature")
    if sensor != NVML_TEMPERATURE_GPU:
        raise NVMLError_InvalidArgument()
    return handle.temperature
