"""``nsight`` (alias ``ncu``): Nsight Compute, GPU core utilization per core type.

A launcher: the benchmark re-runs as a child under::

    ncu --csv --target-processes all --profile-from-start off --replay-mode kernel
        --clock-control none --cache-control none
        --metrics <core metrics of this GPU's architecture>,gpc__cycles_elapsed.max[,extras]
        [--launch-skip N] --launch-count 3000
        [--nvtx --nvtx-include dnn_suite.window/ --nvtx-push-pop-scope process]
        --log-file RUN/nsight/ncu_bs<B>.log [extra_args] CHILD

``--log-file`` keeps ncu's CSV apart from the program's output (which the core tees into
``tool.log``). The child opens the capture around the measured windows, so only their kernels
are profiled. For each core type (FMA, FP16, Tensor, SFU) the report gives the
cycle-weighted mean over *all* profiled kernels of the percentage of peak issue rate (weights:
``gpc__cycles_elapsed.max`` of each kernel): utilization while kernels run, not over wall
time. The per-kernel numbers go to ``per_kernel.csv`` and ``analysis.json``.

What is sampled, and how (run.json says it too: ``launch_skip``, ``launch_count`` and the
``sampling`` metric)
    * The capture opens after warmup, so ``launch_skip`` (default 0) counts launches from the
      first measured iteration; ``launch_count`` (default 3000, 0 = every launch) bounds the
      run: ncu replays each kernel, and an EfficientDet training step launches a few thousand
      kernels, so profiling every kernel of a 10-iteration window would take hours. 3000 is
      meant to cover about one D0 step, forward and backward (docs: GPU acceptance); set
      ``launch_count`` for more.
    * ``cache_control`` ``none`` (default) keeps the caches as the previous kernel left them,
      as in training; ``all`` is ncu's own default, flushing every cache before each kernel,
      which understates pipe utilization for a model whose activations stay in L2.
      ``clock_control`` ``none`` (default) leaves the clocks to the driver, as in training;
      ``base`` is ncu's default, locking them to base clocks.
    * ``nvtx``: only kernels inside the ``dnn_suite.window`` range. ncu matches push/pop
      ranges per thread by default, and on CUDA autograd launches the backward kernels from a
      thread of its own, so the range is matched process-wide (``--nvtx-push-pop-scope
      process``) or about half of every step would be left out.

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

from dnn_suite.context import RunContext
from dnn_suite.errors import RunFailed, UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.metrics import Metric
from dnn_suite.options import Option
from dnn_suite.registry import ProfilerSpec
from dnn_suite.value_types import Integer, Text
from dnn_suite_profilers import launching
from dnn_suite_profilers.analyzers import Analysis, analyze_ncu
from dnn_suite_profilers.analyzers.ncu import is_ncu_line
from dnn_suite_profilers.analyzers.ncu_metrics import (
    chip_of,
    core_utilization_metrics,
    missing_metrics,
    parse_query_metrics,
    profiling_metrics,
)

NAME = "nsight"
METRIC_SETS = ("core", "extra")
CACHE_CONTROL = ("none", "all")
CLOCK_CONTROL = ("none", "base")
REPLAY_MODE = "kernel"
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
    import torch  # here, not at the top: registration needs no torch, so `dnn-suite list` stays light

    if run.device.type == "cuda" and torch.cuda.is_available():
        return tuple(torch.cuda.get_device_capability(run.device))  # type: ignore[return-value]
    return DEFAULT_COMPUTE_CAPABILITY


def unknown_metrics(executable: str, names: list[str], chip: str | None = None) -> list[str]:
    """The ``names`` whose base name ``ncu --query-metrics`` does not list for ``chip`` (None:
    the GPU attached here); nothing when ncu cannot list metrics (no GPU, an old ncu): then the
    run itself will tell."""
    command = [executable, "--query-metrics", *(["--chips", chip] if chip else [])]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return []
    available = parse_query_metrics(completed.stdout)
    if completed.returncode != 0 or not available:
        return []
    return missing_metrics(names, available)


SPEC = ProfilerSpec(
    name=NAME,
    aliases=("ncu",),
    description="Nsight Compute: GPU core (FMA, FP16, Tensor, SFU) utilization, cycle-weighted over kernels",
    measures=("FMA/FP16/Tensor/SFU pipe utilization", "per-kernel metrics",
              "SM throughput, occupancy, DRAM throughput (metrics=extra)"),
    launcher=True,
    requires=("ncu (Nsight Compute) on PATH", "a CUDA GPU of compute capability >= 7.0",
              "access to GPU performance counters"),
    conflicts=dict(CONFLICTS),
    options=(
        Option("executable", "ncu", "the ncu command or its path"),
        Option("extra_args", [], "more ncu arguments, placed before the program (e.g. ['-k', 'regex:gemm'])"),
        Option("metrics", "core", "core: FMA/FP16/Tensor/SFU utilization; extra: also SM throughput, achieved "
               "occupancy, DRAM throughput and kernel duration", Text(choices=METRIC_SETS)),
        Option("launch_skip", 0, "kernel launches to skip after the capture opens, i.e. after warmup "
               "(--launch-skip)", Integer(minimum=0)),
        Option("launch_count", 3000, "kernel launches to profile, 0 = all (--launch-count); the default bounds "
               "the run to minutes", Integer(minimum=0)),
        Option("nvtx", False, "profile only kernels inside the dnn_suite.window NVTX range, from every thread "
               "(--nvtx --nvtx-include, --nvtx-push-pop-scope process)"),
        Option("cache_control", "none", "none: caches as training leaves them; all: flush before each kernel "
               "(--cache-control)", Text(choices=CACHE_CONTROL)),
        Option("clock_control", "none", "none: clocks as the driver sets them; base: lock to base clocks "
               "(--clock-control)", Text(choices=CLOCK_CONTROL)),
        Option("check_metrics", True, "before running, ask `ncu --query-metrics` whether this GPU knows the "
               "metric names"),
    ),
)
INSTALL_HINT = "install Nsight Compute (it ships with the CUDA toolkit as `ncu`)"


def _metric_names(run: RunContext) -> list[str]:
    """The metric names to collect: the core ones, the cycle weights, the extras if asked for."""
    return profiling_metrics(compute_capability(run), extras=run.profiler_options(NAME)["metrics"] == "extra")


def _tool_args(run: RunContext) -> list[str]:
    options = run.profiler_options(NAME)
    args = [
        "--csv", "--target-processes", "all", "--profile-from-start", "off", "--replay-mode", REPLAY_MODE,
        "--clock-control", options["clock_control"], "--cache-control", options["cache_control"],
        "--metrics", ",".join(_metric_names(run)),
    ]
    if options["launch_skip"]:
        args += ["--launch-skip", str(options["launch_skip"])]
    if options["launch_count"]:
        args += ["--launch-count", str(options["launch_count"])]
    if options["nvtx"]:
        args += ["--nvtx", "--nvtx-include", f"{launching.WINDOW_RANGE}/", "--nvtx-push-pop-scope", "process"]
    return [*args, "--log-file", str(_output(run))]


def _output(run: RunContext) -> Path:
    return run.profiler_dir(NAME) / f"ncu_bs{run.config.batch_size}.log"


def _profile_file(run: RunContext) -> Path:
    """ncu's log; ncu failing before it opened its log leaves its errors in its console output (tool.log)."""
    if not _output(run).is_file():
        console = launching.read_tool_log(run, NAME)
        if any(is_ncu_line(line) for line in console.splitlines()):
            return launching.tool_log(run, NAME)
    return launching.output_file(run, NAME, _output(run))


def _metrics(run: RunContext, analysis: Analysis) -> dict[str, Metric]:
    """The analyzer's metrics and what was sampled, and how."""
    options = run.profiler_options(NAME)
    profiled = analysis.metrics["kernel_count"].value if "kernel_count" in analysis.metrics else 0
    where = (f"inside the {launching.WINDOW_RANGE} NVTX range, every thread" if options["nvtx"]
             else "from the first measured iteration on")
    how = (f"{profiled} kernel launches profiled {where}: --launch-skip {options['launch_skip']} "
           f"--launch-count {options['launch_count'] or 'all'}, --replay-mode {REPLAY_MODE}, "
           f"--cache-control {options['cache_control']}, --clock-control {options['clock_control']}")
    return {
        **analysis.metrics,
        "launch_skip": Metric(options["launch_skip"], "launches", "launches skipped after the capture opened"),
        "launch_count": Metric(options["launch_count"], "launches", "most launches profiled (0: all)"),
        "sampling": Metric(profiled, "kernels", how),
    }


@hookimpl
def dnn_suite_register_profilers(register):
    register(SPEC)


@hookimpl
def dnn_suite_profiler_preflight(run: RunContext):
    if run.launcher != NAME:
        return
    try:
        core_utilization_metrics(compute_capability(run))
    except RunFailed as exc:  # a GPU too old for these metrics: nothing to run
        raise UsageError(f"profiler nsight: {exc}") from exc
    executable = launching.resolve_executable(run, NAME, INSTALL_HINT)
    if run.profiler_options(NAME)["check_metrics"]:
        on_gpu = run.device.type == "cuda"  # else ask for the chip whose names the run uses
        unknown = unknown_metrics(executable, _metric_names(run), None if on_gpu else chip_of(compute_capability(run)))
        if unknown:
            raise UsageError(
                f"profiler nsight: this GPU's ncu does not know the metric(s) {', '.join(unknown)} "
                f"(`{executable} --query-metrics`); the metric table for compute capability "
                f"{'.'.join(map(str, compute_capability(run)))} needs updating "
                f"(or skip this check: --set profiler_options.{NAME}.check_metrics=false)"
            )
    launching.warn_if_not_cuda(run, NAME)


@hookimpl
def dnn_suite_launch_command(run: RunContext, command: list[str]):
    if run.launcher != NAME:
        return None
    return launching.launch_command(run, NAME, INSTALL_HINT, _tool_args(run), command)


@hookimpl(wrapper=True)
def dnn_suite_training_loop(run: RunContext):
    return (yield from launching.capture_loop(run, NAME))


@hookimpl(wrapper=True)
def dnn_suite_measured_window(run: RunContext, window: int):
    return (yield from launching.capture_window(run, NAME, window))


@hookimpl
def dnn_suite_profiler_report(run: RunContext):
    if not launching.is_main(run, NAME):
        return None
    analysis = launching.analyzed(
        run, NAME, _profile_file(run), lambda path: analyze_ncu(path, core_utilization_metrics(compute_capability(run))))
    return NAME, _metrics(run, analysis)
