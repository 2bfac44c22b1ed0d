"""``nsys``: Nsight Systems timeline, GPU compute utilization per device in the window.

A launcher: the benchmark re-runs as a child under::

    nsys profile -t cuda,nvtx -s none --cpuctxsw=none --capture-range=cudaProfilerApi
        --capture-range-end=stop -f true -o RUN/nsys/profile_bs<B> --export=sqlite [extra_args] CHILD

The child opens the capture before the first measured window and closes it after the last,
marking every window with the NVTX range ``dnn_suite.window`` (see :mod:`.launching`);
``--capture-range-end=stop`` lets the program finish after the capture (the default,
``stop-shutdown``, would kill it). The parent then analyzes ``profile_bs<B>.sqlite``:
utilization = union of kernel intervals inside the window ranges / their length, per device.
"""

from __future__ import annotations

from pathlib import Path

from dnn_suite.context import RunContext
from dnn_suite.hookspecs import hookimpl
from dnn_suite.options import Option
from dnn_suite.registry import ProfilerSpec
from dnn_suite_profilers import launching
from dnn_suite_profilers.analyzers import analyze_nsys

NAME = "nsys"
CUPTI_CONFLICT = (
    "Nsight Systems and torch.profiler both trace CUDA through CUPTI, which takes one subscriber at a time; "
    "run them one after the other"
)


def _base(run: RunContext) -> Path:
    return run.profiler_dir(NAME) / f"profile_bs{run.config.batch_size}"


SPEC = ProfilerSpec(
    name=NAME,
    description="Nsight Systems timeline: GPU compute utilization per device within the window",
    measures=("GPU compute utilization per device", "kernel summary", "memcpy time and bytes"),
    launcher=True,
    requires=("nsys (Nsight Systems) on PATH", "a CUDA GPU"),
    conflicts={"torch": CUPTI_CONFLICT},
    options=(
        Option("executable", "nsys", "the nsys command or its path"),
        Option("extra_args", [], "more arguments for `nsys profile`, placed before the program"),
        launching.TOP_KERNELS,
    ),
)
INSTALL_HINT = "install Nsight Systems (https://developer.nvidia.com/nsight-systems)"


def _tool_args(run: RunContext) -> list[str]:
    return [
        "profile", "-t", "cuda,nvtx", "-s", "none", "--cpuctxsw=none",
        "--capture-range=cudaProfilerApi", "--capture-range-end=stop",
        "-f", "true", "-o", str(_base(run)), "--export=sqlite",
    ]


@hookimpl
def dnn_suite_register_profilers(register):
    register(SPEC)


@hookimpl
def dnn_suite_profiler_preflight(run: RunContext):
    if run.launcher == NAME:
        launching.resolve_executable(run, NAME, INSTALL_HINT)
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
    path = launching.output_file(run, NAME, _base(run).with_suffix(".sqlite"))
    analysis = launching.analyzed(run, NAME, path, analyze_nsys)
    return NAME, launching.timeline_metrics(analysis, run.profiler_options(NAME)["top_kernels"])
