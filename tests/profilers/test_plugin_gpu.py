"""The profilers on a real CUDA GPU with the tiny model: the real ncu and NVML, torch.profiler
with CUDA activity, the launchers' in-child capture (cudaProfilerStart/Stop, NVTX) under the
fake nsys, and nvprof's refusal of compute capability >= 8.0. Skipped without CUDA."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
import torch

from fakes.harness import fake_tools, value  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _run(cli, *args):
    result = cli("run", "tiny", "--device", "cuda", "--warmup", 1, *args, "--json")
    document = json.loads(result.out) if result.out.strip() else None
    return result, document


@pytest.mark.skipif(shutil.which("ncu") is None, reason="ncu (Nsight Compute) is not on PATH")
def test_real_ncu_core_utilization(tiny_plugin, cli, tmp_path):
    result, document = _run(cli, "--profiler", "ncu", "--iterations", 2, "--output", tmp_path,
                            "--set", "profiler_options.nsight.launch_count=30",
                            "--set", "profiler_options.nsight.metrics=extra")
    report = document["profilers"]["nsight"]
    if report["error"] and "ERR_NVGPUCTRPERM" in report["error"]:
        pytest.skip("no permission for the GPU performance counters on this machine")
    assert result.code == 0, (report["error"], result.err)
    count = value(document, "nsight", "kernel_count")
    assert 0 < count <= 30 and value(document, "nsight", "cycles") > 0
    for core in ("fma", "fp16", "tensor", "sfu"):
        assert 0.0 <= value(document, "nsight", f"{core}_utilization") <= 100.0
    assert value(document, "nsight", "fma_utilization") > 0.0  # an fp32 MLP runs FMA instructions
    assert value(document, "nsight", "kernel_time") > 0
    run_dir = Path(document["run_dir"])
    rows = (run_dir / "nsight" / "per_kernel.csv").read_text().splitlines()
    assert len(rows) == 1 + count
    argv = json.loads((run_dir / "nsight" / "command.json").read_text())
    metrics = argv[argv.index("--metrics") + 1]
    if torch.cuda.get_device_capability() >= (9, 0):
        assert "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_elapsed" in metrics


def test_real_nvml_on_the_runs_gpu(tiny_plugin, cli, tmp_path):
    import pynvml

    from dnn_suite_profilers.nvml import nvml_index_of_cuda_device

    pynvml.nvmlInit()
    try:
        index = nvml_index_of_cuda_device(pynvml, 0)
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(index))
    finally:
        pynvml.nvmlShutdown()
    assert (name.decode() if isinstance(name, bytes) else name) == torch.cuda.get_device_name(0)

    result, document = _run(cli, "--profiler", "nvml", "--duration", "1", "--output", tmp_path,
                            "--set", "profiler_options.nvml.interval_ms=20")
    assert result.code == 0, result.err
    key = f"gpu{index}."
    assert value(document, "nvml", key + "samples") >= 10
    assert value(document, "nvml", key + "power_mean") > 0
    assert value(document, "nvml", key + "mem_used_peak") > 0
    assert value(document, "nvml", key + "sm_clock_mean") > 0
    assert value(document, "nvml", "energy") > 0
    assert value(document, "nvml", "energy_per_sample") == pytest.approx(
        value(document, "nvml", "energy") / document["metrics"]["samples"])


def test_torch_profiler_records_cuda_time(tiny_plugin, cli, tmp_path):
    result, document = _run(cli, "--profiler", "torch", "--iterations", 3, "--output", tmp_path)
    assert result.code == 0, result.err
    assert value(document, "torch", "self_cuda_time_total") > 0
    assert any(key.endswith(".cuda_time") for key in document["profilers"]["torch"]["metrics"])
    path = Path(document["run_dir"]) / "torch" / "traces" / "rank0.pt.trace.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    assert any(event.get("cat") == "kernel" for event in trace["traceEvents"])
    steps = sorted(e["name"] for e in trace["traceEvents"]
                   if e.get("cat") == "user_annotation" and e["name"].startswith("ProfilerStep#"))
    assert steps == ["ProfilerStep#1", "ProfilerStep#2", "ProfilerStep#3"]  # the run's warmup iteration warms it up


def test_launcher_capture_in_the_child_on_cuda(fake_tools, cli, tmp_path):
    """cudaProfilerStart/Stop and the NVTX range run in the child on a real GPU (fake nsys)."""
    result, document = _run(cli, "--profiler", "nsys", "--iterations", 3, "--repeat", 2, "--output", tmp_path)
    assert result.code == 0, result.err
    assert document["status"] == "ok" and document["device"].startswith("cuda")
    assert value(document, "nsys", "kernel_count") == 6 * 4


def test_nvprof_refuses_compute_capability_8_and_newer(fake_tools, cli, tmp_path):
    capabilities = [torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())]
    if max(capabilities) < (8, 0):
        pytest.skip("every GPU here is below compute capability 8.0: nvprof would be accepted")
    result = cli("run", "tiny", "--device", "cuda", "--profiler", "nvprof", "--output", tmp_path / "out")
    assert result.code == 2
    assert "compute capability" in result.err and "use --profiler nsys" in result.err
    assert not (tmp_path / "out").exists()
