"""The nvml sampler end to end with the fake pynvml (tests/profilers/fakes/pynvml.py: two GPUs
whose readings follow a time profile; device 1 has no energy counter and no instantaneous
power field), its preflight, and the CUDA -> NVML device mapping (with torch.cuda's device
properties replaced, as there is no GPU here)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dnn_suite.errors import UsageError
from dnn_suite_profilers.analyzers.nvml import NVML_COLUMNS
from dnn_suite_profilers.nvml import nvml_index_of_cuda_device
from fakes.harness import fake_pynvml, value  # noqa: F401 (fixtures)

DEVICES = "profiler_options.nvml.devices=[0,1]"


def _real_nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return not getattr(pynvml, "FAKE", False)
    except Exception:
        return False


def test_nvml_samples_only_the_windows(fake_pynvml, cli, tmp_path):
    result = cli("run", "tiny", "--profiler", "nvml", "--device", "cpu", "--duration", "0.25", "--repeat", 2,
                 "--set", DEVICES, "--set", "profiler_options.nvml.interval_ms=10", "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    assert "nvml samples NVML device(s) 0, 1 as asked" in result.err  # the CPU-run warning
    document = json.loads(result.out)
    run_dir = Path(document["run_dir"])
    report = document["profilers"]["nvml"]
    assert report["error"] is None and "nvml/samples.csv" in report["artefacts"]

    with open(run_dir / "nvml" / "samples.csv", newline="") as handle:
        reader = csv.reader(handle)
        assert tuple(next(reader)) == NVML_COLUMNS
        rows = [dict(zip(NVML_COLUMNS, row)) for row in reader]
    per_device = {d: [r for r in rows if r["device_index"] == d] for d in ("0", "1")}
    assert len(per_device["0"]) == len(per_device["1"]) == len(rows) // 2
    assert value(document, "nvml", "sample_count") == len(rows)
    assert all(r["energy_mj"] == "" for r in per_device["1"])  # NotSupported -> empty cell

    # timestamps count from the first window's start; the sampler ran at least through the
    # windows and took no more samples than its running time allows at 10 ms, plus one at each
    # end of each window (a loaded machine may keep it running a little past a window's end)
    times = [float(r["timestamp_s"]) for r in per_device["0"]]
    assert times == sorted(times) and 0 <= times[0] < 0.5
    window_time = sum(w["wall_s"] for w in document["metrics"]["windows"])
    sampled_time = times[-1] - times[0]
    assert sampled_time >= window_time * 0.95
    assert 2 * 2 <= value(document, "nvml", "gpu0.samples") <= sampled_time / 0.010 + 2 * 2

    # the readings moved: device 0's utilization and instantaneous power follow the fake's sine
    # profiles (the sampler read the power field, not the 1 s average, which is constant)
    util0 = [float(r["gpu_util_pct"]) for r in per_device["0"]]
    power0 = [float(r["power_w"]) for r in per_device["0"]]
    assert len(set(util0)) > 3 and all(65 <= u <= 95 for u in util0)
    assert max(power0) - min(power0) > 20 and all(200 <= p <= 300 for p in power0)
    assert value(document, "nvml", "gpu0.gpu_util_mean") == pytest.approx(sum(util0) / len(util0))
    assert value(document, "nvml", "gpu0.power_mean") == pytest.approx(sum(power0) / len(power0))
    assert value(document, "nvml", "gpu0.power_instant") == 1
    assert value(document, "nvml", "gpu1.power_instant") == 0  # no field there: nvmlDeviceGetPowerUsage
    assert "NVML_FI_DEV_POWER_INSTANT" in report["metrics"]["gpu0.power_instant"]["description"]
    assert {r["power_w"] for r in per_device["1"]} == {"100.0"}
    assert value(document, "nvml", "gpu1.gpu_util_median") == 5.0
    assert value(document, "nvml", "gpu_util_mean") == pytest.approx((sum(util0) / len(util0) + 5.0) / 2)
    assert value(document, "nvml", "gpu0.mem_used_peak") == 2 * 2**30
    assert value(document, "nvml", "gpu0.temperature_max") == 55.0
    # energy: device 0 from its counter, which integrates the instantaneous power, so it agrees
    # with the power samples integrated over time; device 1 from 100 W integrated
    duration = value(document, "nvml", "gpu0.duration")
    assert duration == pytest.approx(times[-1] - times[0], abs=1e-6)
    energy0, energy1 = value(document, "nvml", "gpu0.energy"), value(document, "nvml", "gpu1.energy")
    integrated = sum((t1 - t0) * (p0 + p1) / 2 for t0, t1, p0, p1 in zip(times, times[1:], power0, power0[1:]))
    assert energy0 == pytest.approx(integrated, rel=0.05)
    assert energy1 == pytest.approx(100.0 * duration, rel=1e-4)
    assert "energy counter" in report["metrics"]["gpu0.energy"]["description"]
    assert "power integrated" in report["metrics"]["gpu1.energy"]["description"]
    trained = document["metrics"]["samples"]
    assert value(document, "nvml", "training_samples") == trained
    assert value(document, "nvml", "energy") == pytest.approx(energy0 + energy1)
    assert value(document, "nvml", "energy_per_sample") == pytest.approx((energy0 + energy1) / trained)
    # 0.25 s windows are shorter than NVML's averaging periods: said in run.json and on stderr
    warning = report["metrics"]["warning.short_window"]
    assert 0.25 <= warning["value"] < 1.0 and "less than NVML's averaging periods" in warning["description"]
    assert "profiler nvml: the shortest window lasted" in result.err
    assert fake_pynvml.calls["nvmlInit"] == fake_pynvml.calls["nvmlShutdown"]  # NVML closed after use
    assert fake_pynvml._state["initialized"] == 0
    assert document["environment"]["nvidia_driver"] == "570.124.06"  # the core saw the fake too

    # and `analyze` reads the samples file back to the same summary
    again = cli("analyze", run_dir / "nvml" / "samples.csv", "--json")
    assert again.code == 0
    analysis = json.loads(again.out)[str(run_dir / "nvml" / "samples.csv")]
    assert analysis["metrics"]["gpu1.energy"]["value"] == pytest.approx(energy1)


def test_cpu_run_without_devices_is_refused(fake_pynvml, cli, tmp_path):
    result = cli("run", "tiny", "--profiler", "nvml", "--device", "cpu", "--output", tmp_path / "out")
    assert result.code == 2
    assert "profiler nvml samples the GPU the run uses, but this run is on cpu" in result.err
    assert "profiler_options.nvml.devices=[0]" in result.err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(_real_nvml_works(), reason="this machine has a working NVIDIA driver")
def test_no_driver_is_a_usage_error(tiny_plugin, cli, tmp_path):
    """The real pynvml on a machine without an NVIDIA driver."""
    result = cli("run", "tiny", "--profiler", "nvml", "--device", "cpu", "--set", DEVICES, "--output", tmp_path)
    assert result.code == 2
    assert result.err.count("\n") == 1 and "profiler nvml: no usable NVIDIA driver here" in result.err


@pytest.mark.parametrize("mode, message", [("nodriver", "NVML Shared Library Not Found"),
                                           ("driver_not_loaded", "Driver Not Loaded")])
def test_driver_failures(fake_pynvml, cli, tmp_path, monkeypatch, mode, message):
    monkeypatch.setenv("FAKE_PYNVML_MODE", mode)
    result = cli("run", "tiny", "--profiler", "nvml", "--device", "cpu", "--set", DEVICES, "--output", tmp_path)
    assert result.code == 2 and f"no usable NVIDIA driver here ({message})" in result.err


@pytest.mark.parametrize("setting, message", [
    ("profiler_options.nvml.devices=[5]", "option 'devices': NVML has 2 device(s) (0-1), got 5"),
    ("profiler_options.nvml.devices=[-1]", "option 'devices': expected a list of NVML device indices"),
    ("profiler_options.nvml.interval_ms=0", "option 'interval_ms': expected a positive number"),
])
def test_bad_options(fake_pynvml, cli, tmp_path, setting, message):
    result = cli("run", "tiny", "--profiler", "nvml", "--device", "cpu", "--set", setting, "--output", tmp_path)
    assert result.code == 2 and message in result.err


def test_cuda_device_maps_to_nvml_by_uuid_then_pci(fake_pynvml, monkeypatch):
    """CUDA's numbering (CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER) need not match NVML's."""
    properties = {
        0: SimpleNamespace(name="NVIDIA H200", uuid="11111111-2222-3333-4444-000000000001"),  # NVML 1
        1: SimpleNamespace(name="NVIDIA H200", uuid="GPU-11111111-2222-3333-4444-000000000000"),  # NVML 0
        2: SimpleNamespace(name="NVIDIA H200", uuid="ffffffff-0000-0000-0000-000000000000",
                           pci_domain_id=0, pci_bus_id=0x65, pci_device_id=0),  # NVML 1 by PCI
        3: SimpleNamespace(name="NVIDIA H200", uuid="ffffffff-0000-0000-0000-000000000000"),
    }
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: properties[index])
    fake_pynvml.nvmlInit()
    try:
        assert [nvml_index_of_cuda_device(fake_pynvml, i) for i in (0, 1, 2)] == [1, 0, 1]
        with pytest.raises(UsageError, match="CUDA device 3 .* is none of the 2 GPUs NVML lists"):
            nvml_index_of_cuda_device(fake_pynvml, 3)
    finally:
        fake_pynvml.nvmlShutdown()
