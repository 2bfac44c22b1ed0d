"""``nsight`` (alias ``ncu``): Nsight Compute, GPU core utilization per core type.

A launcher: the benchmark re-runs as a child under::

    ncu --csv --target-processes all --profile-from-start off --clock-control none
        --metrics <core metrics of this GPU's architecture>,gpc__cycles_elapsed.max[,extras]
        [--launch-skip N] [--launch-count M] [--nvtx --nvtx-include dnn_suite.window/]
        --log-file RUN/nsight/ncu_bs<B>.log [extra_args] CHILD

``--log-file`` keeps ncu's CSV apart from the program's output (which the core tees into
``tool.log``). The child opens the capture around the measured windows, so only their kernels
are profiled. For each core type (FMA, FP16, Tensor, SFU) the report gives the
cycle-weighted mean over *all* profiled kernels of the percentage of peak issue rate (weights:
``gpc__cycles_elapsed.max`` of each kernel): utilization while kernels run, not over wall
time. The per-kernel numbers go to ``per_kernel.csv`` and ``analysis.json``.

Metric names differ per architecture; they come from
:func:`~dnn_suite_profilers.analyzers.ncu_metrics.core_utilization_metrics` for the compute
capability of the run's GPU (the Volta-to-GA100 names, as the original benchmark used, when
the run is not on a CUDA device).

ncu replays every kernel several times with the GPU serialized, so the run's throughput and
anything sampled meanwhile describe the profiling, not training: ``nsight`` refuses to be
combined with the samplers (``nvml``, ``cpu``) and with ``torch``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch

from dnn_suite.context import RunContext
from dnn_suite.errors import RunFailed, UsageError
from dnn_suite.registry import ProfilerSpec
from dnn_suite_profilers import launching
from dnn_suite_profilers.analyzers import analyze_ncu
from dnn_suite_profilers.analyzers.ncu import is_ncu_line
from dnn_suite_profilers.analyzers.ncu_metrics import (
    core_utilization_metrics,
    missing_metrics,
    parse_query_metrics,
    profiling_metrics,
)

NAME = "nsight"
METRIC_SETS = ("core", "extra")
#: metric names used when the run's GPU is unknown (not a CUDA run): Volta to GA100, as the
#: original benchmark
DEFAULT_COMPUTE_CAPABILITY = (7, 0)
REPLAY = "ncu replays every kernel several times with the GPU serialized"
CONFLICTS = {
    "nvml": f"{REPLAY}, so sampled GPU utilization, power and energy would describe the replays, not training",
    "cpu": f"{REPLAY} and stops the program at every kernel, so CPU utilization would describe ncu, not training",
    "torch": f"{REPLAY} and holds CUPTI, so a torch.profiler timeline would be meaningless (and cannot attach)",
}


def compute_capability(run: RunContext) -> tuple[int, int]:
    if run.device.type == "cuda" and torch.cuda.is_available():
        return tuple(torch.cuda.get_device_capability(run.device))  # type: ignore[return-value]
    return DEFAULT_COMPUTE_CAPABILITY


def unknown_metrics(executable: str, names: list[str]) -> list[str]:
    """The ``names`` whose base name ``ncu --query-metrics`` does not list; nothing when ncu
    cannot list metrics here (no GPU, an old ncu): then the run itself will tell."""
    try:
        completed = subprocess.run([executable, "--query-metrics"], capture_output=True, text=True,
                                   stdin=subprocess.DEVNULL, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return []
    available = parse_query_metrics(completed.stdout)
    if completed.returncode != 0 or not available:
        return []
    return missing_metrics(names, available)


class Nsight(launching.Launcher):
    spec = ProfilerSpec(
        name=NAME,
        aliases=("ncu",),
        description="Nsight Compute: GPU core (FMA, FP16, Tensor, SFU) utilization, cycle-weighted over kernels",
        measures=("FMA/FP16/Tensor/SFU pipe utilization", "per-kernel metrics",
                  "SM throughput, occupancy, DRAM throughput (metrics=extra)"),
        launcher=True,
        requires=("ncu (Nsight Compute) on PATH", "a CUDA GPU of compute capability >= 7.0",
                  "access to GPU performance counters"),
        conflicts=dict(CONFLICTS),
        options={"executable": "ncu", "extra_args": [], "metrics": "core", "launch_skip": 0, "launch_count": 0,
                 "nvtx": False, "check_metrics": True},
        option_help={
            "executable": "the ncu command or its path",
            "extra_args": "more ncu arguments, placed before the program (e.g. ['-k', 'regex:gemm'])",
            "metrics": "core: FMA/FP16/Tensor/SFU utilization; extra: also SM throughput, achieved occupancy, "
                       "DRAM throughput and kernel duration",
            "launch_skip": "kernel launches to skip after the capture opens (--launch-skip)",
            "launch_count": "kernel launches to profile, 0 = all (--launch-count)",
            "nvtx": "profile only kernels inside the dnn_suite.window NVTX range (--nvtx --nvtx-include)",
            "check_metrics": "before running, ask `ncu --query-metrics` whether this GPU knows the metric names",
        },
    )
    install_hint = "install Nsight Compute (it ships with the CUDA toolkit as `ncu`)"

    def preflight(self, run: RunContext):
        options = run.profiler_options(NAME)
        if options["metrics"] not in METRIC_SETS:
            raise UsageError(f"profiler nsight option 'metrics': expected one of {', '.join(METRIC_SETS)}, "
                             f"got {options['metrics']!r}")
        launching.non_negative_options(run, NAME, ("launch_skip", "launch_count"))
        try:
            core_utilization_metrics(compute_capability(run))
        except RunFailed as exc:  # a GPU too old for these metrics: nothing to run
            raise UsageError(f"profiler nsight: {exc}") from exc
        executable = self.executable(run)
        if options["check_metrics"]:
            unknown = unknown_metrics(executable, self._metric_names(run))
            if unknown:
                raise UsageError(
                    f"profiler nsight: this GPU's ncu does not know the metric(s) {', '.join(unknown)} "
                    f"(`{executable} --query-metrics`); the metric table for compute capability "
                    f"{'.'.join(map(str, compute_capability(run)))} needs updating "
                    f"(or skip this check: --set profiler_options.{NAME}.check_metrics=false)"
                )

    def _metric_names(self, run: RunContext) -> list[str]:
        """The metric names to collect: the core ones, the cycle weights, the extras if asked for."""
        return profiling_metrics(compute_capability(run), extras=run.profiler_options(NAME)["metrics"] == "extra")

    def tool_args(self, run: RunContext):
        options = run.profiler_options(NAME)
        args = [
            "--csv", "--target-processes", "all", "--profile-from-start", "off", "--clock-control", "none",
            "--metrics", ",".join(self._metric_names(run)),
        ]
        if options["launch_skip"]:
            args += ["--launch-skip", str(options["launch_skip"])]
        if options["launch_count"]:
            args += ["--launch-count", str(options["launch_count"])]
        if options["nvtx"]:
            args += ["--nvtx", "--nvtx-include", f"{launching.WINDOW_RANGE}/"]
        return [*args, "--log-file", str(self.output(run))]

    def output(self, run: RunContext):
        return run.profiler_dir(NAME) / f"ncu_bs{run.config.batch_size}.log"

    def profile_file(self, run: RunContext):
        """ncu failing before it opened its log leaves its errors in its console output (tool.log)."""
        if not self.output(run).is_file():
            console = launching.read_tool_log(run, NAME)
            if any(is_ncu_line(line) for line in console.splitlines()):
                return launching.tool_log(run, NAME)
        return super().profile_file(run)

    def analyze(self, run: RunContext, path: Path):
        return analyze_ncu(path, core_utilization_metrics(compute_capability(run)))


plugin = Nsight()
