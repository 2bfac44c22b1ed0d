"""A fake ``pynvml`` (nvidia-ml-py) for CPU-only machines: the subset of the API the ``nvml``
profiler calls, with the real exception classes' names and the real return shapes.

Two GPUs, NVML indices 0 and 1 (PCI bus 0x17 and 0x65), with constant readings:

  device  gpu%  mem%  memory used  power   SM clock  temperature  energy counter
  0       80    30    2 GiB        250 W   1980 MHz  55 C         mJ, grows at 250 W from nvmlInit
  1       5     1     512 MiB      100 W   1410 MHz  40 C         not supported (NVMLError_NotSupported)

FAKE_PYNVML_MODE=nodriver makes nvmlInit raise NVMLError_LibraryNotFound, =driver_not_loaded
NVMLError_DriverNotLoaded. Placed first on PYTHONPATH by the tests.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

FAKE = True
NVML_CLOCK_SM = 1
NVML_TEMPERATURE_GPU = 0


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


@dataclass(frozen=True)
class _Gpu:
    index: int
    name: str
    uuid: str
    bus: int
    util: int
    mem_util: int
    used: int
    power_mw: int
    sm_clock: int
    temperature: int
    energy: bool


GPUS = (
    _Gpu(0, "NVIDIA H200", "GPU-11111111-2222-3333-4444-000000000000", 0x17, 80, 30, 2 * 2**30, 250_000, 1980, 55, True),
    _Gpu(1, "NVIDIA H200", "GPU-11111111-2222-3333-4444-000000000001", 0x65, 5, 1, 512 * 2**20, 100_000, 1410, 40, False),
)
_state = {"initialized": 0, "t0": 0.0}
calls: dict[str, int] = {}


def _count(name: str) -> None:
    calls[name] = calls.get(name, 0) + 1


def _check() -> None:
    if _state["initialized"] <= 0:
        raise NVMLError_Uninitialized()


def nvmlInit() -> None:
    _count("nvmlInit")
    mode = os.environ.get("FAKE_PYNVML_MODE", "")
    if mode == "nodriver":
        raise NVMLError_LibraryNotFound()
    if mode == "driver_not_loaded":
        raise NVMLError_DriverNotLoaded()
    if _state["initialized"] == 0:
        _state["t0"] = time.perf_counter()
    _state["initialized"] += 1


def nvmlShutdown() -> None:
    _count("nvmlShutdown")
    _check()
    _state["initialized"] -= 1


def nvmlSystemGetDriverVersion() -> str:
    _check()
    return "570.124.06"


def nvmlDeviceGetCount() -> int:
    _check()
    return len(GPUS)


def nvmlDeviceGetHandleByIndex(index: int) -> _Gpu:
    _check()
    if not 0 <= index < len(GPUS):
        raise NVMLError_InvalidArgument()
    return GPUS[index]


def nvmlDeviceGetName(handle: _Gpu) -> str:
    return handle.name


def nvmlDeviceGetUUID(handle: _Gpu) -> str:
    return handle.uuid


def nvmlDeviceGetPciInfo(handle: _Gpu) -> nvmlPciInfo_t:
    return nvmlPciInfo_t(f"00000000:{handle.bus:02X}:00.0".encode(), 0, handle.bus, 0, 0x233510DE)


def nvmlDeviceGetUtilizationRates(handle: _Gpu) -> c_nvmlUtilization_t:
    _check()
    _count("nvmlDeviceGetUtilizationRates")
    return c_nvmlUtilization_t(handle.util, handle.mem_util)


def nvmlDeviceGetMemoryInfo(handle: _Gpu) -> c_nvmlMemory_t:
    _check()
    total = 141 * 2**30
    return c_nvmlMemory_t(total, total - handle.used, handle.used)


def nvmlDeviceGetPowerUsage(handle: _Gpu) -> int:
    _check()
    return handle.power_mw


def nvmlDeviceGetTotalEnergyConsumption(handle: _Gpu) -> int:
    _check()
    if not handle.energy:
        raise NVMLError_NotSupported()
    # mJ since the "driver loaded": a fixed offset plus constant power since nvmlInit
    return 10**9 + int(handle.power_mw * (time.perf_counter() - _state["t0"]))


def nvmlDeviceGetClockInfo(handle: _Gpu, clock: int) -> int:
    _check()
    if clock != NVML_CLOCK_SM:
        raise NVMLError_InvalidArgument()
    return handle.sm_clock


def nvmlDeviceGetTemperature(handle: _Gpu, sensor: int) -> int:
    _check()
    if sensor != NVML_TEMPERATURE_GPU:
        raise NVMLError_InvalidArgument()
    return handle.temperature
