"""``nvprof`` (alias ``nvvp``): the legacy CUDA profiler, GPU compute utilization per device.

A launcher: the benchmark re-runs as a child under::

    nvprof --profile-from-start off --export-profile RUN/nvprof/profile_bs<B>.nvvp -f [extra_args] CHILD

as the original benchmark did; the child opens the capture (``cudaProfilerStart``) around the
measured windows and marks each with the NVTX range ``dnn_suite.window``. nvprof does not
support compute capability 8.0 and newer (A100, H100, H200: it warns and profiles nothing), so
the preflight refuses such GPUs and the report also recognises that warning in the tool's
log. Use ``--profiler nsys`` there.
"""

from __future__ import annotations

from pathlib import Path

from dnn_suite.context import RunContext
from dnn_suite.errors import UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.options import Option
from dnn_suite.registry import ProfilerSpec
from dnn_suite_profilers import launching
from dnn_suite_profilers.analyzers import analyze_nvprof, check_nvprof_output

NAME = "nvprof"
CUPTI_CONFLICT = (
    "nvprof and torch.profiler both trace CUDA through CUPTI, which takes one subscriber at a time; "
    "run them one after the other"
)


def _check_compute_capability() -> None:
    import torch  # here, not at the top: registration needs no torch, so `dnn-suite list` stays light

    if not torch.cuda.is_available():
        return
    for index in range(torch.cuda.device_count()):
        major, minor = torch.cuda.get_device_capability(index)
        if (major, minor) >= (8, 0):
            raise UsageError(
                f"profiler nvprof: GPU {index} ({torch.cuda.get_device_name(index)}) has compute capability "
                f"{major}.{minor} and nvprof supports only GPUs below 8.0; use --profiler nsys for GPU "
                "compute utilization (or hide the GPU with CUDA_VISIBLE_DEVICES)"
            )


SPEC = ProfilerSpec(
    name=NAME,
    aliases=("nvvp",),
    description="legacy nvprof timeline (GPUs below compute capability 8.0): GPU compute utilization",
    measures=("GPU compute utilization per device", "kernel count", "top kernels"),
    launcher=True,
    requires=("nvprof on PATH (CUDA <= 12)", "CUDA GPUs of compute capability < 8.0"),
    conflicts={"torch": CUPTI_CONFLICT},
    options=(
        Option("executable", "nvprof", "the nvprof command or its path"),
        Option("extra_args", [], "more nvprof arguments, placed before the program"),
        launching.TOP_KERNELS,
    ),
)
INSTALL_HINT = "nvprof ships with CUDA 10-12 for GPUs below compute capability 8.0; use --profiler nsys otherwise"


def _tool_args(run: RunContext) -> list[str]:
    return ["--profile-from-start", "off", "--export-profile", str(_output(run)), "-f"]


def _output(run: RunContext) -> Path:
    return run.profiler_dir(NAME) / f"profile_bs{run.config.batch_size}.nvvp"


@hookimpl
def dnn_suite_register_profilers(register):
    register(SPEC)


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
def dnn_suite_profiler_preflight(run: RunContext):
    if run.launcher == NAME:
        _check_compute_capability()
        launching.resolve_executable(run, NAME, INSTALL_HINT)
        launching.warn_if_not_cuda(run, NAME)


@hookimpl
def dnn_suite_profiler_report(run: RunContext):
    """Checks the tool's log first: on a GPU it does not support, nvprof only warns there and
    profiles nothing."""
    if not launching.is_main(run, NAME):
        return None
    check_nvprof_output(launching.read_tool_log(run, NAME), launching.tool_log(run, NAME))
    analysis = launching.analyzed(run, NAME, launching.output_file(run, NAME, _output(run)), analyze_nvprof)
    return NAME, launching.timeline_metrics(analysis, run.profiler_options(NAME)["top_kernels"])
