"""NVML's rules as the fake pynvml keeps them (errors outside nvmlInit .. nvmlShutdown,
readings that move with time), and what the nvml plugin does with them: the instantaneous
power field where the driver has it, and a warning for windows shorter than NVML's
averaging periods. The fake's clock is moved by shifting its DRIVER_LOADED_AT."""

from __future__ import annotations

import time

import pytest

from dnn_suite.run.summary_table import format_summary
from dnn_suite_profilers.nvml import MIN_WINDOW_S, _power_function, short_window_warning
from fakes.harness import fake_pynvml  # noqa: F401 (fixture)


def _at(pynvml, t: float) -> None:
    """Make the fake's readings those of ``t`` seconds after its driver loaded."""
    pynvml.DRIVER_LOADED_AT = time.perf_counter() - t


def test_every_call_outside_init_and_shutdown_is_refused(fake_pynvml):
    nvml = fake_pynvml
    queries = [nvml.nvmlDeviceGetCount, nvml.nvmlSystemGetDriverVersion, lambda: nvml.nvmlDeviceGetHandleByIndex(0),
               lambda: nvml.nvmlDeviceGetName(nvml.GPUS[0]), lambda: nvml.nvmlDeviceGetUUID(nvml.GPUS[0]),
               lambda: nvml.nvmlDeviceGetPowerUsage(nvml.GPUS[0]), nvml.nvmlShutdown,
               lambda: nvml.nvmlDeviceGetFieldValues(nvml.GPUS[0], [nvml.NVML_FI_DEV_POWER_INSTANT])]
    for query in queries:
        with pytest.raises(nvml.NVMLError_Uninitialized):
            query()
    nvml.nvmlInit()
    nvml.nvmlInit()  # NVML counts initialisations: one shutdown leaves it open
    nvml.nvmlShutdown()
    assert nvml.nvmlDeviceGetCount() == 2
    nvml.nvmlShutdown()
    for query in queries:
        with pytest.raises(nvml.NVMLError_Uninitialized):
            query()


def test_readings_move_and_the_energy_counter_only_grows(fake_pynvml):
    nvml = fake_pynvml
    nvml.nvmlInit()
    try:
        gpu = nvml.nvmlDeviceGetHandleByIndex(0)
        readings = []
        for t in (1.0, 1.125, 1.25, 1.375, 1.5, 3.0):
            _at(nvml, t)
            [field] = nvml.nvmlDeviceGetFieldValues(gpu, [nvml.NVML_FI_DEV_POWER_INSTANT])
            readings.append((nvml.nvmlDeviceGetUtilizationRates(gpu).gpu, field.value.uiVal,
                             nvml.nvmlDeviceGetPowerUsage(gpu), nvml.nvmlDeviceGetTotalEnergyConsumption(gpu)))
    finally:
        nvml.nvmlShutdown()
    utilization, instant, average, energy = zip(*readings)
    assert len(set(utilization)) > 3 and len(set(instant)) > 3
    assert instant[:3] == pytest.approx((250_000, 300_000, 250_000), abs=50)  # t = 1, 1.125, 1.25 s
    assert set(average) == {250_000}  # the 1 s running average of a 0.5 s period
    assert list(energy) == sorted(energy) and len(set(energy)) == len(energy)
    assert (energy[-1] - energy[0]) / 1000 == pytest.approx(250.0 * 2.0, rel=0.01)  # J over 2 s at 250 W mean


def test_power_is_read_from_the_instantaneous_field_where_the_driver_has_it(fake_pynvml, monkeypatch):
    nvml = fake_pynvml
    nvml.nvmlInit()
    try:
        gpu0, gpu1 = nvml.nvmlDeviceGetHandleByIndex(0), nvml.nvmlDeviceGetHandleByIndex(1)
        power0, instant0 = _power_function(nvml, gpu0)
        power1, instant1 = _power_function(nvml, gpu1)
        assert (instant0, instant1) == (True, False)
        _at(nvml, 1.125)  # the sine's peak: 300 W instantaneous, 250 W averaged
        assert power0() == pytest.approx(300_000, abs=50)
        assert power1() == 100_000  # NOT_SUPPORTED field: nvmlDeviceGetPowerUsage
        monkeypatch.delattr(nvml, "NVML_FI_DEV_POWER_INSTANT")  # an nvidia-ml-py without the field
        power0, instant0 = _power_function(nvml, gpu0)
        assert not instant0 and power0() == 250_000

        def no_field_values(handle, fields):
            raise nvml.NVMLError_NotSupported()  # a driver without nvmlDeviceGetFieldValues

        monkeypatch.setattr(nvml, "NVML_FI_DEV_POWER_INSTANT", 186, raising=False)
        monkeypatch.setattr(nvml, "nvmlDeviceGetFieldValues", no_field_values)
        assert _power_function(nvml, gpu0)[1] is False
    finally:
        nvml.nvmlShutdown()


def test_short_windows_are_warned_about():
    warning = short_window_warning([2.5, 0.3, 1.2])
    assert warning is not None and warning.value == 0.3 and warning.unit == "s"
    assert "0.30 s" in warning.description and "--duration 10" in warning.description
    assert short_window_warning([MIN_WINDOW_S, 3.0]) is None
    assert short_window_warning([]) is None


def test_the_summary_shows_profiler_warnings():
    warning = short_window_warning([0.3])
    run = {"config": {"model": "tiny", "variant": "small", "dataset": "synthetic", "device": "cpu", "batch_size": 4},
           "status": "ok", "metrics": None,
           "profilers": {"nvml": {"error": None, "metrics": {
               "gpu_util_mean": {"value": 80.0, "unit": "%"},
               "warning.short_window": warning.to_json()}}}}
    lines = format_summary(run, None).splitlines()
    nvml = [line for line in lines if line.startswith("nvml")]
    assert len(nvml) == 2 and "gpu_util_mean 80" in nvml[0] and "warning.short_window" not in nvml[0]
    assert nvml[1].split(None, 1)[1] == f"warning: {warning.description}"
