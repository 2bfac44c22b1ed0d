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

import torch

from dnn_suite.context import RunContext
from dnn_suite.errors import RunFailed, UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.registry import ProfilerSpec
from dnn_suite.results import write_json_atomic
from dnn_suite_profilers import launching
from dnn_suite_profilers.analyzers import InvalidProfileFile, analyze_nvprof, check_nvprof_output

NAME = "nvprof"
INSTALL_HINT = "nvprof ships with CUDA 10-12 for GPUs below compute capability 8.0; use --profiler nsys otherwise"
CUPTI_CONFLICT = (
    "nvprof and torch.profiler both trace CUDA through CUPTI, which takes one subscriber at a time; "
    "run them one after the other"
)


@hookimpl
def dnn_suite_register_profilers(register):
    register(ProfilerSpec(
        name=NAME,
        aliases=("nvvp",),
        description="legacy nvprof timeline (GPUs below compute capability 8.0): GPU compute utilization",
        measures=("GPU compute utilization per device", "kernel count", "top kernels"),
        launcher=True,
        requires=("nvprof on PATH (CUDA <= 12)", "CUDA GPUs of compute capability < 8.0"),
        conflicts={"torch": CUPTI_CONFLICT},
        options={"executable": "nvprof", "extra_args": [], "top_kernels": 5},
        option_help={
            "executable": "the nvprof command or its path",
            "extra_args": "more nvprof arguments, placed before the program",
            "top_kernels": "how many kernels (by total time) to list in the metrics",
        },
    ))


def _profile(run: RunContext):
    return run.profiler_dir(NAME) / f"profile_bs{run.config.batch_size}.nvvp"


def _check_compute_capability() -> None:
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


@hookimpl
def dnn_suite_profiler_preflight(run: RunContext):
    if run.launcher != NAME:
        return
    _check_compute_capability()
    launching.resolve_executable(run, NAME, INSTALL_HINT)
    launching.non_negative_options(run, NAME, ("top_kernels",))
    launching.warn_if_not_cuda(run, NAME)


@hookimpl
def dnn_suite_launch_command(run: RunContext, command: list[str]):
    if run.launcher != NAME:
        return None
    argv = [
        launching.resolve_executable(run, NAME, INSTALL_HINT),
        "--profile-from-start", "off", "--export-profile", str(_profile(run)), "-f",
        *launching.extra_args(run, NAME), *command,
    ]
    write_json_atomic(run.profiler_dir(NAME) / "command.json", argv)
    return argv


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
    check_nvprof_output(launching.read_tool_log(run, NAME), launching.tool_log(run, NAME))
    path = _profile(run)
    if not path.is_file():
        raise launching.missing_output(run, NAME, path)
    try:
        analysis = analyze_nvprof(path)
    except InvalidProfileFile as exc:
        raise RunFailed(str(exc)) from exc
    launching.write_analysis(run.profiler_dir(NAME), analysis)
    return NAME, launching.timeline_metrics(analysis, run.profiler_options(NAME)["top_kernels"])
