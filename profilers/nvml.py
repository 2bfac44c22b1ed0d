"""``nvml``: GPU utilization, memory, power, energy, SM clock and temperature sampled through
NVML (``pynvml``, package nvidia-ml-py) in a background thread during the measured windows.

Which GPUs are sampled
    The GPU the run uses (``run.device``). CUDA and NVML number GPUs differently: CUDA counts
    only the devices in ``CUDA_VISIBLE_DEVICES``, in ``CUDA_DEVICE_ORDER`` (fastest first by
    default), while NVML counts every GPU in PCI bus order. So the CUDA device is looked up
    among the NVML devices by UUID (``torch.cuda.get_device_properties(i).uuid`` against
    ``nvmlDeviceGetUUID``), then by PCI domain/bus/device if torch exposes them; it works
    whatever ``CUDA_VISIBLE_DEVICES`` and ``CUDA_DEVICE_ORDER`` are. The option ``devices``
    (NVML indices, as ``nvidia-smi`` numbers them) replaces that choice; it is the only way to
    use ``nvml`` on a run that is not on CUDA (for example to watch a GPU while something else
    trains on it, or to exercise the sampler on a CPU-only machine with a fake ``pynvml``),
    and a warning says so. Without it a CPU run is refused in the preflight.

Samples and numbers
    Every ``interval_ms`` (default 100) and once more when the window ends, one row per device
    (``samples.csv``, the analyzers' NVML schema; timestamps in seconds from the start of the
    first window). The summary (per device ``gpu<N>.*`` and over devices) comes from the
    analyzers: GPU utilization mean/median/p95, peak memory used, mean power, energy from the
    energy counter (or power integrated over time where the counter is missing) and energy per
    training sample (samples trained in the measured windows). NVML's utilization is the
    fraction of the last 1/6 s to 1 s in which *any* kernel ran, a coarse upper bound of how
    busy the GPU is; ``nsys`` gives the exact busy time.

Power
    ``nvmlDeviceGetPowerUsage`` is, on recent GPUs (Ampere and newer), a running average over
    the last second, so the samples of a short window would mostly describe what ran before
    it. Where the driver has the instantaneous power field (``nvmlDeviceGetFieldValues`` with
    ``NVML_FI_DEV_POWER_INSTANT``, NVML 12 / drivers 530 and newer) it is read instead; the
    metric ``gpu<N>.power_instant`` says which one was used (1: the instantaneous field).

Windows too short for NVML
    Utilization covers NVML's last sample period (1/6 s to 1 s, depending on the GPU) and the
    averaged power the last second: a window shorter than :data:`MIN_WINDOW_S` gets numbers
    dominated by what ran before and around it. Such a run is not refused (the other numbers
    stand); ``warning.short_window`` in run.json, a line in the summary and one on stderr say
    so, and how long to measure instead (``--duration``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any

from dnn_suite.context import RunContext, WindowResult
from dnn_suite.errors import RunFailed, UsageError, one_line
from dnn_suite.hookspecs import hookimpl
from dnn_suite.metrics import Metric
from dnn_suite.options import Option
from dnn_suite.registry import ProfilerSpec
from dnn_suite.value_types import Integer, ListOf
from dnn_suite_profilers.analyzers import NvmlSample, summarize_nvml, write_nvml_samples
from dnn_suite_profilers.launching import write_analysis
from dnn_suite_profilers.sampling import Sampler

NAME = "nvml"
SAMPLES_FILE = "samples.csv"
#: the longest of NVML's averaging periods (utilization: 1/6 s to 1 s; average power: 1 s)
MIN_WINDOW_S = 1.0


@hookimpl
def dnn_suite_register_profilers(register):
    register(ProfilerSpec(
        name=NAME,
        description="NVML sampler: GPU utilization, memory, power, energy, SM clock, temperature during the window",
        measures=("GPU utilization %", "memory utilization %", "memory used", "power", "energy (J, J/sample)",
                  "SM clock", "temperature"),
        requires=("an NVIDIA driver (NVML)", "a CUDA run, or the devices option"),
        options=(
            Option("interval_ms", 100, "sampling interval in milliseconds",
                   Integer(minimum=1, expected="a positive number of whole milliseconds")),
            Option("devices", [], "NVML device indices to sample instead of the run's GPU (required on a CPU run)",
                   ListOf(Integer(minimum=0), expected="a list of NVML device indices (integers >= 0)")),
        ),
    ))


# ----------------------------------------------------------------- NVML access


def _pynvml():
    try:
        import pynvml
    except ImportError as exc:
        raise UsageError("profiler nvml: the pynvml module is missing; pip install nvidia-ml-py") from exc
    return pynvml


def _init(pynvml) -> None:
    """nvmlInit, with the two ways a machine without a usable driver fails as a UsageError."""
    no_driver = tuple(
        getattr(pynvml, name) for name in ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded")
        if hasattr(pynvml, name)
    )
    try:
        pynvml.nvmlInit()
    except no_driver as exc:
        raise UsageError(
            f"profiler nvml: no usable NVIDIA driver here ({exc}); nvml needs an NVIDIA GPU with its driver "
            "(drop --profiler nvml, or use --profiler cpu for CPU utilization)"
        ) from exc
    except pynvml.NVMLError as exc:
        raise UsageError(f"profiler nvml: cannot initialise NVML ({exc})") from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _uuid_key(value: Any) -> str:
    text = _text(value).strip().lower()
    return text[4:] if text.startswith("gpu-") else text


def nvml_index_of_cuda_device(pynvml, cuda_index: int) -> int:
    """The NVML index of CUDA device ``cuda_index`` of this process (see the module docstring)."""
    import torch  # here and below, not at the top: registration needs no torch, so `dnn-suite list` stays light

    props = torch.cuda.get_device_properties(cuda_index)
    by_uuid: dict[str, int] = {}
    by_pci: dict[tuple[int, int, int], int] = {}
    for index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        by_uuid[_uuid_key(pynvml.nvmlDeviceGetUUID(handle))] = index
        pci = pynvml.nvmlDeviceGetPciInfo(handle)
        by_pci[(int(pci.domain), int(pci.bus), int(pci.device))] = index
    uuid = getattr(props, "uuid", None)
    if uuid is not None and _uuid_key(uuid) in by_uuid:
        return by_uuid[_uuid_key(uuid)]
    pci_key = tuple(getattr(props, f"pci_{part}_id", None) for part in ("domain", "bus", "device"))
    if None not in pci_key and pci_key in by_pci:
        return by_pci[pci_key]  # type: ignore[index]
    raise UsageError(
        f"profiler nvml: CUDA device {cuda_index} ({props.name}, UUID {uuid}) is none of the "
        f"{len(by_uuid)} GPUs NVML lists; set --set profiler_options.{NAME}.devices=[N] with N as nvidia-smi numbers it"
    )


def _devices(run: RunContext, pynvml) -> list[int]:
    """NVML indices to sample: the option ``devices``, else the run's CUDA device."""
    chosen = list(run.profiler_options(NAME)["devices"])
    if chosen:
        return chosen
    import torch

    return [nvml_index_of_cuda_device(pynvml, run.device.index if run.device.index is not None
                                      else torch.cuda.current_device())]


@hookimpl
def dnn_suite_profiler_preflight(run: RunContext):
    devices = run.profiler_options(NAME)["devices"]
    if run.device.type != "cuda" and not devices:
        raise UsageError(
            f"profiler nvml samples the GPU the run uses, but this run is on {run.device}; use --device cuda "
            f"(or name NVML devices to watch anyway: --set profiler_options.{NAME}.devices=[0])"
        )
    pynvml = _pynvml()
    _init(pynvml)
    try:
        count = pynvml.nvmlDeviceGetCount()
        wrong = [d for d in devices if d >= count]
        if wrong:
            raise UsageError(f"profiler nvml option 'devices': NVML has {count} device(s) (0-{count - 1}), "
                             f"got {wrong[0]}")
        if run.device.type == "cuda":
            _devices(run, pynvml)  # the run's GPU must be found among NVML's before anything runs
        else:
            print(f"dnn-suite: warning: this run is on {run.device}; nvml samples NVML device(s) "
                  f"{', '.join(map(str, devices))} as asked, which may be busy with other work", file=sys.stderr)
    finally:
        pynvml.nvmlShutdown()


# ----------------------------------------------------------------- sampling


def _reader(pynvml):
    not_supported = getattr(pynvml, "NVMLError_NotSupported", ())

    def read(function, *args):
        """One NVML query; None where this GPU does not offer it."""
        try:
            return function(*args)
        except not_supported:
            return None

    return read


def _instant_power_mw(pynvml, handle) -> int | None:
    """The instantaneous power field in mW, or None where this driver or GPU lacks it."""
    field = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", None)
    if field is None:
        return None
    try:
        [value] = pynvml.nvmlDeviceGetFieldValues(handle, [field])
    except pynvml.NVMLError:  # an old driver without nvmlDeviceGetFieldValues, or no such field
        return None
    if value.nvmlReturn != getattr(pynvml, "NVML_SUCCESS", 0):
        return None
    return int(value.value.uiVal)


def _power_function(pynvml, handle):
    """A function giving the power in mW: the instantaneous field if the device answers it,
    else ``nvmlDeviceGetPowerUsage``; and whether it is the instantaneous one."""
    if _instant_power_mw(pynvml, handle) is not None:
        return (lambda: _instant_power_mw(pynvml, handle)), True
    read = _reader(pynvml)
    return (lambda: read(pynvml.nvmlDeviceGetPowerUsage, handle)), False


def open_devices(pynvml, indices: list[int]) -> list[dict[str, Any]]:
    """Per NVML index (NVML initialised): its handle, its power reader and whether that reads
    the instantaneous power (see :func:`_power_function`)."""
    devices = []
    for index in indices:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        power, instant = _power_function(pynvml, handle)
        devices.append({"index": index, "handle": handle, "power": power, "instant": instant})
    return devices


def sample_function(pynvml, devices: list[dict[str, Any]]):
    """The sampler's function: one :class:`NvmlSample` per device of :func:`open_devices`."""
    read = _reader(pynvml)

    def sample(elapsed: float) -> list[NvmlSample]:
        rows = []
        for device in devices:
            index, handle = device["index"], device["handle"]
            util = read(pynvml.nvmlDeviceGetUtilizationRates, handle)
            memory = read(pynvml.nvmlDeviceGetMemoryInfo, handle)
            power = device["power"]()
            rows.append(NvmlSample(
                timestamp_s=elapsed,
                device_index=index,
                gpu_util_pct=None if util is None else float(util.gpu),
                mem_util_pct=None if util is None else float(util.memory),
                mem_used_bytes=None if memory is None else int(memory.used),
                power_w=None if power is None else power / 1000.0,
                energy_mj=read(pynvml.nvmlDeviceGetTotalEnergyConsumption, handle),
                sm_clock_mhz=read(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM),
                temperature_c=read(pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU),
            ))
        return rows

    return sample


def _state(run: RunContext) -> dict[str, Any]:
    return run.state.setdefault(NAME, {"windows": []})


@hookimpl(wrapper=True)
def dnn_suite_training_loop(run: RunContext):
    """NVML is opened once for the whole loop (not inside the timed windows) and closed after."""
    pynvml = _pynvml()
    _init(pynvml)
    state = _state(run)
    try:
        state["pynvml"] = pynvml
        state["devices"] = open_devices(pynvml, _devices(run, pynvml))
        return (yield)
    finally:
        pynvml.nvmlShutdown()


@hookimpl(wrapper=True)
def dnn_suite_measured_window(run: RunContext, window: int):
    state = _state(run)
    sampler = Sampler(sample_function(state["pynvml"], state["devices"]),
                      run.profiler_options(NAME)["interval_ms"] / 1000.0)
    entry: dict[str, Any] = {"sampler": sampler, "result": None}
    state["windows"].append(entry)
    sampler.start()
    try:
        result: WindowResult = yield
        entry["result"] = result
        return result
    finally:
        sampler.stop()


@hookimpl
def dnn_suite_profiler_report(run: RunContext):
    windows = _state(run)["windows"]
    errors = [w["sampler"].error for w in windows if w["sampler"].error is not None]
    if errors:
        raise RunFailed(f"nvml sampling failed: {one_line(errors[0])}")
    if not windows:
        return NAME, {}
    origin = windows[0]["sampler"].started_at
    samples = [
        replace(row, timestamp_s=round(w["sampler"].started_at - origin + row.timestamp_s, 6))
        for w in windows for row in w["sampler"].rows
    ]
    folder = run.profiler_dir(NAME)
    path = folder / SAMPLES_FILE
    tmp = folder / f".{SAMPLES_FILE}.{os.getpid()}.tmp"
    try:
        write_nvml_samples(tmp, samples)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    trained = sum(w["result"].samples for w in windows if w["result"] is not None)
    analysis = summarize_nvml(samples, path, trained or None)
    write_analysis(folder, analysis)
    metrics = dict(analysis.metrics)
    metrics["sample_count"] = Metric(len(samples), "samples", "NVML samples, all devices and windows")
    metrics["training_samples"] = Metric(trained, "samples", "samples trained in the measured windows")
    for device in _state(run)["devices"]:
        metrics[f"gpu{device['index']}.power_instant"] = Metric(
            int(device["instant"]), "bool",
            "power from NVML_FI_DEV_POWER_INSTANT (instantaneous)" if device["instant"] else
            "power from nvmlDeviceGetPowerUsage (a 1 s running average on recent GPUs): this driver has no "
            "instantaneous power field")
    warning = short_window_warning([w["sampler"].stopped_at - w["sampler"].started_at for w in windows])
    if warning is not None:
        print(f"dnn-suite: warning: profiler nvml: {warning.description}", file=sys.stderr)
        metrics["warning.short_window"] = warning
    return NAME, metrics


def short_window_warning(window_seconds: list[float]) -> Metric | None:
    """A warning metric (value: the shortest window, s) when a window is shorter than NVML's
    averaging periods, else None."""
    shortest = min(window_seconds, default=MIN_WINDOW_S)
    if shortest >= MIN_WINDOW_S:
        return None
    return Metric(round(shortest, 3), "s",
                  f"the shortest window lasted {shortest:.2f} s, less than NVML's averaging periods (utilization "
                  f"over the last 1/6 s to 1 s, average power over 1 s), so its utilization and power describe "
                  f"mostly the window's edges; measure for longer (--duration {10 * MIN_WINDOW_S:g} or more)")
