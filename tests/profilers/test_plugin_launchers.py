"""The launcher profilers (nsys, nsight/ncu, nvprof/nvvp) end to end with fake tools.

Each fake checks the flags the plugin passes (exit 3 when one is missing), runs the real
benchmark child and writes outputs in the tool's real format from the iterations the child
measured (tests/profilers/fakes/bin/fakelib.py documents the timeline). The expected numbers
below follow from that timeline:

* nsys/nvprof: per iteration (1 ms), device 0 is busy 500 us (kernels 300 + 200 + 100 us, two
  overlapping by 100 us) and device 1 250 us; one HtoD copy of 4096 B taking 50 us on device 0;
* ncu: 3 launches per iteration with the per-kernel values in fakes/bin/ncu.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dnn_suite.plugins import discover
from dnn_suite.run.runner import Run
from dnn_suite.settings.resolve import resolve
from dnn_suite_profilers.nsight import unknown_metrics
from fakes.harness import (  # noqa: F401 (fixtures)
    FAKE_BIN, fake_pynvml, fake_tools, load_run, no_tools, only_run_dir, run_in_process, run_process, value,
)

CHILD = [sys.executable, "-m", "dnn_suite", "_child"]


def _document(completed) -> tuple[dict, Path]:
    document = json.loads(completed.stdout)
    return document, Path(document["run_dir"])


# --------------------------------------------------------------------------- nsys


@pytest.fixture(scope="module")
def nsys_run(tmp_path_factory):
    """nsys + cpu (an in-process profiler in the child), 2 windows of 3 iterations; the one
    launched run whose parent is a separate process too."""
    out = tmp_path_factory.mktemp("nsys")
    completed = run_process("run", "tiny", "--profiler", "nsys,cpu", "--iterations", 3, "--repeat", 2,
                            "--output", out, "--json")
    assert completed.returncode == 0, completed.stderr
    return _document(completed)


def test_nsys_utilization_kernels_and_memcpy(nsys_run):
    document, run_dir = nsys_run
    assert document == load_run(run_dir) and document["status"] == "ok"
    assert document["metrics"]["iterations"] == 6  # the child's measurements are the run's
    report = document["profilers"]["nsys"]
    assert report["error"] is None
    metric = lambda key: value(document, "nsys", key)  # noqa: E731
    assert metric("window_length") == 6 * 1_000_000  # two NVTX windows of 3 ms
    assert metric("gpu0.compute_utilization") == pytest.approx(50.0)  # overlap counted once
    assert metric("gpu1.compute_utilization") == pytest.approx(25.0)
    assert metric("compute_utilization") == pytest.approx(37.5)
    assert metric("kernel_count") == 6 * 4  # the warmup kernel before the window is not counted
    assert metric("gpu0.kernel_time") == 6 * 600_000
    assert metric("kernel_time") == 6 * 850_000
    assert metric("gpu0.memcpy_htod_bytes") == 6 * 4096
    assert metric("gpu0.memcpy_htod_time") == 6 * 50_000
    # top kernels over all devices, by total time
    tops = [report["metrics"][f"top_kernel.{rank}"] for rank in range(1, 5)]
    assert [t["value"] for t in tops] == [6 * 300_000, 6 * 250_000, 6 * 200_000, 6 * 100_000]
    assert "gpu0 void sgemm_fwd(float*): 6 launches" in tops[0]["description"]
    assert tops[1]["description"].startswith("gpu1 void allreduce(float*)")
    assert "top_kernel.6" not in report["metrics"]  # top_kernels defaults to 5 (4 names exist)
    assert {"nsys/profile_bs4.sqlite", "nsys/profile_bs4.nsys-rep", "nsys/tool.log", "nsys/analysis.json",
            "nsys/command.json", "nsys/top_kernels.csv", "nsys/per_device.csv"} <= set(report["artefacts"])
    # the in-process profiler ran inside the child, under the tool
    cpu = document["profilers"]["cpu"]
    assert cpu["error"] is None and cpu["metrics"]["samples"]["value"] >= 2
    assert "Generated:" in (run_dir / "nsys" / "tool.log").read_text()


def test_nsys_command_line(nsys_run):
    _, run_dir = nsys_run
    argv = json.loads((run_dir / "nsys" / "command.json").read_text())
    assert argv[0] == str(FAKE_BIN / "nsys") and argv[1] == "profile"
    assert argv[-5:] == [*CHILD, str(run_dir)]
    flags = argv[2:-5]
    for flag in ("--capture-range=cudaProfilerApi", "--capture-range-end=stop", "--cpuctxsw=none", "--export=sqlite"):
        assert flag in flags
    assert flags[flags.index("-o") + 1] == str(run_dir / "nsys" / "profile_bs4")
    assert flags[flags.index("-t") + 1] == "cuda,nvtx"


def test_analyze_run_dir_and_files(nsys_run, cli, tmp_path):
    _, run_dir = nsys_run
    result = cli("analyze", run_dir, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    # tool.log, the .nsys-rep beside its export, the cpu samples and our own CSVs are skipped
    assert list(data) == ["nsys/profile_bs4.sqlite"]
    assert data["nsys/profile_bs4.sqlite"]["metrics"]["compute_utilization"]["value"] == pytest.approx(37.5)
    assert json.loads((run_dir / "analysis.json").read_text()) == data

    result = cli("analyze", run_dir / "nsys" / "profile_bs4.sqlite")
    assert result.code == 0 and "gpu0.compute_utilization" in result.out and "50" in result.out

    alone = tmp_path / "profile.nsys-rep"
    alone.write_bytes((run_dir / "nsys" / "profile_bs4.nsys-rep").read_bytes())
    result = cli("analyze", alone)
    assert result.code == 2 and "nsys export --type sqlite" in result.err

    result = cli("analyze", run_dir / "cpu" / "samples.csv")
    assert result.code == 2 and "not an output format" in result.err


# --------------------------------------------------------------------------- nsight (ncu)


@pytest.fixture(scope="module")
def ncu_run(tmp_path_factory):
    """The alias ncu, with the extra metrics, launch skip/count and the NVTX filter."""
    out = tmp_path_factory.mktemp("ncu")
    options = "profiler_options.nsight"
    code, stdout, stderr = run_in_process("run", "tiny", "--profiler", "ncu", "--iterations", 4, "--output", out,
                                          "--json", "--set", f"{options}.metrics=extra",
                                          "--set", f"{options}.launch_skip=1", "--set", f"{options}.launch_count=4",
                                          "--set", f"{options}.nvtx=true")
    assert code == 0, stderr
    document = json.loads(stdout)
    return document, Path(document["run_dir"]), stderr


def test_ncu_core_utilization_is_cycle_weighted(ncu_run):
    document, run_dir, _ = ncu_run
    assert document["status"] == "ok" and document["profilers"]["nsight"]["error"] is None
    metric = lambda key: value(document, "nsight", key)  # noqa: E731
    # launches 1..4 of the 12 (4 iterations x 3): relu, sgemm_bwd, sgemm_fwd, relu
    cycles = [200_000, 800_000, 1_000_000, 200_000]
    weighted = lambda values: sum(c * v for c, v in zip(cycles, values)) / sum(cycles)  # noqa: E731
    assert metric("kernel_count") == 4
    assert metric("cycles") == sum(cycles)
    assert metric("fma_utilization") == pytest.approx(weighted([5, 50, 40, 5]))  # 37.27
    assert metric("fp16_utilization") == pytest.approx(weighted([10, 0, 2, 10]))
    assert metric("tensor_utilization") == pytest.approx(weighted([0, 20, 10, 0]))
    assert metric("sfu_utilization") == pytest.approx(weighted([20, 0, 1, 20]))
    assert metric("sm_throughput") == pytest.approx(weighted([20, 70, 60, 20]))
    assert metric("achieved_occupancy") == pytest.approx(weighted([80, 40, 45, 80]))
    assert metric("dram_throughput") == pytest.approx(weighted([70, 25, 30, 70]))
    assert metric("kernel_time") == pytest.approx((100 + 400 + 500 + 100) * 1000)  # usecond -> ns
    rows = (run_dir / "nsight" / "per_kernel.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and "relu_kernel(float*, int)" in rows[1]
    assert {"nsight/ncu_bs4.log", "nsight/per_kernel.csv", "nsight/analysis.json", "nsight/tool.log"} <= set(
        document["profilers"]["nsight"]["artefacts"])


def test_ncu_command_line(ncu_run):
    _, run_dir, stderr = ncu_run
    argv = json.loads((run_dir / "nsight" / "command.json").read_text())
    assert argv[0] == str(FAKE_BIN / "ncu") and argv[-5:] == [*CHILD, str(run_dir)]
    assert argv[argv.index("--log-file") + 1] == str(run_dir / "nsight" / "ncu_bs4.log")
    assert argv[argv.index("--launch-skip") + 1] == "1" and argv[argv.index("--launch-count") + 1] == "4"
    assert argv[argv.index("--nvtx-include") + 1] == "dnn_suite.window/" and "--nvtx" in argv
    assert argv[argv.index("--nvtx-push-pop-scope") + 1] == "process"  # backward runs on autograd's thread
    metrics = argv[argv.index("--metrics") + 1].split(",")
    # a CPU run: the default (Volta..GA100) names, the cycle weights and the extras
    assert "sm__inst_executed_pipe_fp16.avg.pct_of_peak_sustained_elapsed" in metrics
    assert {"gpc__cycles_elapsed.max", "sm__throughput.avg.pct_of_peak_sustained_elapsed",
            "sm__warps_active.avg.pct_of_peak_sustained_active", "gpu__time_duration.sum"} <= set(metrics)
    assert "profiler nsight records GPU work, but this run is on cpu" in stderr


def test_ncu_permission_error_fails_the_run(fake_tools, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_NCU_MODE", "perm")
    result = cli("run", "tiny", "--profiler", "nsight", "--iterations", 2, "--output", tmp_path)
    assert result.code == 1, result.err
    document = load_run(only_run_dir(tmp_path))
    assert document["status"] == "failed"
    assert document["error"].startswith("profiler nsight failed: ncu failed")
    error = document["profilers"]["nsight"]["error"]
    assert "ERR_NVGPUCTRPERM" in error and "NVreg_RestrictProfilingToAdminUsers=0" in error
    assert document["metrics"]["iterations"] == 2  # the benchmark itself ran
    assert "nsight" in result.out and "ERR_NVGPUCTRPERM" in result.out  # summary table


@pytest.mark.slow
def test_ncu_without_kernels_fails_the_run(fake_tools, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_NCU_MODE", "nokernels")
    result = cli("run", "tiny", "--profiler", "ncu", "--iterations", 2, "--output", tmp_path)
    assert result.code == 1
    error = load_run(only_run_dir(tmp_path))["profilers"]["nsight"]["error"]
    assert "no kernels were profiled" in error and "cudaProfilerStart" in error


def test_ncu_failing_to_start_is_read_from_its_console(fake_tools, cli, tmp_path, monkeypatch):
    """No log file: the error comes from ncu's console output (tool.log)."""
    monkeypatch.setenv("FAKE_NCU_MODE", "initfail")
    result = cli("run", "tiny", "--profiler", "ncu", "--output", tmp_path)
    assert result.code == 1
    run_dir = only_run_dir(tmp_path)
    document = load_run(run_dir)
    assert document["status"] == "failed" and document["metrics"] is None  # the benchmark never ran
    error = document["profilers"]["nsight"]["error"]
    assert error.startswith(f"ncu failed ({run_dir / 'nsight' / 'tool.log'}): the profiler could not start")
    assert "LibraryNotLoaded" in error


def test_tool_rejecting_its_arguments_fails_the_run(fake_tools, cli, tmp_path):
    """An unknown flag (extra_args) makes the fake exit 3 before the program runs."""
    result = cli("run", "tiny", "--profiler", "ncu", "--output", tmp_path,
                 "--set", "profiler_options.nsight.extra_args=[--bogus]")
    assert result.code == 1
    run_dir = only_run_dir(tmp_path)
    document = load_run(run_dir)
    assert document["status"] == "failed" and document["error"].endswith("exited with code 3; see "
                                                                         f"{run_dir / 'nsight' / 'tool.log'}")
    error = document["profilers"]["nsight"]["error"]
    assert error.startswith("nsight wrote no ncu_bs4.log") and "FAKE ncu: unexpected option '--bogus'" in error


# --------------------------------------------------------------------------- nvprof (nvvp)


def test_nvvp_alias_end_to_end(fake_tools, cli, tmp_path):
    result = cli("run", "tiny", "--profiler", "nvvp", "--iterations", 4, "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    run_dir = Path(document["run_dir"])
    assert document["status"] == "ok" and list(document["profilers"]) == ["nvprof"]
    assert value(document, "nvprof", "compute_utilization") == pytest.approx(37.5)
    assert value(document, "nvprof", "gpu0.compute_utilization") == pytest.approx(50.0)
    assert value(document, "nvprof", "kernel_count") == 16
    assert value(document, "nvprof", "window_length") == 4_000_000
    assert "nvprof/profile_bs4.nvvp" in document["profilers"]["nvprof"]["artefacts"]
    argv = json.loads((run_dir / "nvprof" / "command.json").read_text())
    assert argv == [str(FAKE_BIN / "nvprof"), "--profile-from-start", "off", "--export-profile",
                    str(run_dir / "nvprof" / "profile_bs4.nvvp"), "-f", *CHILD, str(run_dir)]


@pytest.mark.slow
def test_nvprof_unsupported_gpu_warning_fails_the_run(fake_tools, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_NVPROF_MODE", "unsupported")
    result = cli("run", "tiny", "--profiler", "nvprof", "--iterations", 2, "--output", tmp_path)
    assert result.code == 1
    document = load_run(only_run_dir(tmp_path))
    assert document["status"] == "failed"
    error = document["profilers"]["nvprof"]["error"]
    assert "compute capability 8.0 and higher" in error and "nsys" in error


@pytest.mark.slow
def test_nsys_without_export_fails_the_run(fake_tools, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_NSYS_MODE", "noexport")
    result = cli("run", "tiny", "--profiler", "nsys", "--iterations", 2, "--output", tmp_path)
    assert result.code == 1
    run_dir = only_run_dir(tmp_path)
    error = load_run(run_dir)["profilers"]["nsys"]["error"]
    assert error.startswith(f"nsys wrote no profile_bs4.sqlite (see {run_dir / 'nsys' / 'tool.log'}")
    assert "CPU IP/backtrace sampling not supported" in error  # the log's last lines


# --------------------------------------------------------------------------- preflight, options, conflicts


@pytest.mark.parametrize("name, tool", [("nsys", "nsys"), ("ncu", "ncu"), ("nsight", "ncu"), ("nvprof", "nvprof")])
def test_missing_tool_is_a_usage_error(no_tools, fake_pynvml, cli, tmp_path, name, tool):
    result = cli("run", "tiny", "--profiler", name, "--output", tmp_path / "out")  # a driver answers (fake NVML)
    assert result.code == 2
    line = result.err.strip()
    assert "\n" not in line and f"{tool!r} was not found on PATH" in line
    assert f"profiler_options.{'nsight' if name == 'ncu' else name}.executable=" in line
    assert not (tmp_path / "out").exists()  # refused before a run directory was made


@pytest.mark.parametrize("name", ["nsys", "nsight", "nvprof"])
def test_without_a_tool_or_an_nvidia_driver_it_says_there_is_no_gpu(no_tools, fake_pynvml, cli, tmp_path,
                                                                     monkeypatch, name):
    """Installing the tool would not help: the message says there is no GPU, before anything runs."""
    monkeypatch.setenv("FAKE_PYNVML_MODE", "nodriver")
    result = cli("run", "tiny", "--profiler", name, "--output", tmp_path / "out")
    assert result.code == 2
    assert result.err == (f"dnn-suite: error: profiler {name} profiles NVIDIA GPUs, and this machine has none (no "
                          "NVIDIA driver answers); run it on a machine with an NVIDIA GPU and its driver\n")
    assert not (tmp_path / "out").exists()


def _run(profilers: list[str], options: dict | None = None, **flags) -> Run:
    config = resolve("tiny", discover(), flags={"profilers": profilers, "profiler_options": options or {}, **flags})
    return Run(config, discover())


@pytest.mark.parametrize("profiler, options, expected", [
    ("nsys", {}, ["profile", "-t", "cuda,nvtx", "-s", "none", "--cpuctxsw=none", "--capture-range=cudaProfilerApi",
                  "--capture-range-end=stop", "-f", "true", "-o", "{dir}/nsys/profile_bs4", "--export=sqlite"]),
    ("nsight", {}, ["--csv", "--target-processes", "all", "--profile-from-start", "off", "--replay-mode", "kernel",
                    "--clock-control", "none", "--cache-control", "none", "--metrics", "sm__inst_executed_pipe_fma.avg.pct_of_peak_sustained_elapsed,"
                    "sm__inst_executed_pipe_fp16.avg.pct_of_peak_sustained_elapsed,"
                    "sm__inst_executed_pipe_tensor.avg.pct_of_peak_sustained_elapsed,"
                    "sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_elapsed,gpc__cycles_elapsed.max",
                    "--launch-count", "3000", "--log-file", "{dir}/nsight/ncu_bs4.log"]),
    ("nvprof", {"extra_args": ["--print-gpu-trace"]},
     ["--profile-from-start", "off", "--export-profile", "{dir}/nvprof/profile_bs4.nvvp", "-f", "--print-gpu-trace"]),
])
def test_launch_command_and_executable_option(tiny_plugin, tmp_path, profiler, options, expected):
    executable = FAKE_BIN / {"nsight": "ncu"}.get(profiler, profiler)
    run = _run([profiler], {profiler: {"executable": str(executable), **options}}, device="cpu", output=str(tmp_path))
    run_dir = run.create_run_dir()
    child = [*CHILD, str(run_dir)]
    argv = run.context.hook.dnn_suite_launch_command(run=run.context, command=child)
    assert argv == [str(executable), *(a.replace("{dir}", str(run_dir)) for a in expected), *child]


@pytest.mark.parametrize("profilers, message", [
    ("nsight,nvml", "profilers nsight and nvml cannot be combined: ncu replays every kernel"),
    ("ncu,cpu", "profilers nsight and cpu cannot be combined: ncu replays every kernel"),
    ("torch,ncu", "profilers nsight and torch cannot be combined"),
    ("nsys,torch", "profilers nsys and torch cannot be combined: Nsight Systems and torch.profiler both trace CUDA"),
    ("nvvp,torch", "profilers nvprof and torch cannot be combined"),
    ("nsys,ncu", "cannot be combined: each re-runs the program under its own tool"),
])
def test_conflicting_profilers_are_refused(fake_tools, cli, tmp_path, profilers, message):
    result = cli("run", "tiny", "--profiler", profilers, "--output", tmp_path)
    assert result.code == 2 and message in result.err


@pytest.mark.parametrize("profilers", [["nsys", "nvml", "cpu"], ["nvprof", "nvml", "cpu"], ["torch", "cpu", "nvml"]])
def test_meaningful_combinations_are_accepted(tiny_plugin, profilers):
    assert _run(profilers).config.profilers == profilers


@pytest.mark.parametrize("setting, message", [
    ("profiler_options.nsight.metrics=all", "option 'metrics': expected one of core, extra, got 'all'"),
    ("profiler_options.nsight.launch_skip=-1", "option 'launch_skip': expected an integer >= 0"),
    ("profiler_options.nsys.top_kernels=-2", "option 'top_kernels': expected an integer >= 0"),
])
def test_bad_launcher_options(fake_tools, cli, tmp_path, setting, message):
    profiler = setting.split(".")[1]
    result = cli("run", "tiny", "--profiler", profiler, "--output", tmp_path, "--set", setting)
    assert result.code == 2 and message in result.err


def test_in_process_profilers_of_a_launched_run_are_checked_first(fake_tools, cli, tmp_path):
    """nvml runs in the child of an nsys run; its preflight still runs in the user's process."""
    result = cli("run", "tiny", "--profiler", "nsys,nvml", "--device", "cpu", "--output", tmp_path / "out")
    assert result.code == 2 and "profiler nvml samples the GPU the run uses" in result.err
    assert not (tmp_path / "out").exists()



def test_ncu_metric_names_are_checked_before_the_run(fake_tools, cli, tmp_path, monkeypatch):
    """A GPU whose ncu lacks a chosen metric is refused up front (the fake lists metrics like
    `ncu --query-metrics`); where ncu cannot list them (no GPU), the check steps aside."""
    monkeypatch.setenv("FAKE_NCU_MODE", "noxu")
    result = cli("run", "tiny", "--profiler", "ncu", "--output", tmp_path / "out")
    assert result.code == 2 and not (tmp_path / "out").exists()
    assert "does not know the metric(s) sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_elapsed" in result.err
    names = ["sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_elapsed", "gpc__cycles_elapsed.max"]
    assert unknown_metrics(str(FAKE_BIN / "ncu"), names) == names[:1]
    monkeypatch.setenv("FAKE_NCU_MODE", "noquery")
    assert unknown_metrics(str(FAKE_BIN / "ncu"), names) == []
    monkeypatch.setenv("FAKE_NCU_MODE", "ok")
    assert unknown_metrics(str(FAKE_BIN / "ncu"), names) == []
