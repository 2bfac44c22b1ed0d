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

from dnn_suite.context import RunContext
from dnn_suite.errors import RunFailed
from dnn_suite.hookspecs import hookimpl
from dnn_suite.registry import ProfilerSpec
from dnn_suite.results import write_json_atomic
from dnn_suite_profilers import launching
from dnn_suite_profilers.analyzers import InvalidProfileFile, analyze_nsys

NAME = "nsys"
INSTALL_HINT = "install Nsight Systems (https://developer.nvidia.com/nsight-systems)"
CUPTI_CONFLICT = (
    "Nsight Systems and torch.profiler both trace CUDA through CUPTI, which takes one subscriber at a time; "
    "run them one after the other"
)


@hookimpl
def dnn_suite_register_profilers(register):
    register(ProfilerSpec(
        name=NAME,
        description="Nsight Systems timeline: GPU compute utilization per device within the window",
        measures=("GPU compute utilization per device", "kernel summary", "memcpy time and bytes"),
        launcher=True,
        requires=("nsys (Nsight Systems) on PATH", "a CUDA GPU"),
        conflicts={"torch": CUPTI_CONFLICT},
        options={"executable": "nsys", "extra_args": [], "top_kernels": 5},
        option_help={
            "executable": "the nsys command or its path",
            "extra_args": "more arguments for `nsys profile`, placed before the program",
            "top_kernels": "how many kernels (by total time) to list in the metrics",
        },
    ))


def _base(run: RunContext):
    return run.profiler_dir(NAME) / f"profile_bs{run.config.batch_size}"


@hookimpl
def dnn_suite_profiler_preflight(run: RunContext):
    if run.launcher != NAME:
        return
    launching.resolve_executable(run, NAME, INSTALL_HINT)
    launching.non_negative_options(run, NAME, ("top_kernels",))
    launching.warn_if_not_cuda(run, NAME)


@hookimpl
def dnn_suite_launch_command(run: RunContext, command: list[str]):
    if run.launcher != NAME:
        return None
    argv = [
        launching.resolve_executable(run, NAME, INSTALL_HINT), "profile",
        "-t", "cuda,nvtx", "-s", "none", "--cpuctxsw=none",
        "--capture-range=cudaProfilerApi", "--capture-range-end=stop",
        "-f", "true", "-o", str(_base(run)), "--export=sqlite",
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
    path = _base(run).with_suffix(".sqlite")
    if not path.is_file():
        raise launching.missing_output(run, NAME, path)
    try:
        analysis = analyze_nsys(path)
    except InvalidProfileFile as exc:  # our own tool's output: the run failed, not the usage
        raise RunFailed(str(exc)) from exc
    launching.write_analysis(run.profiler_dir(NAME), analysis)
    return NAME, launching.timeline_metrics(analysis, run.profiler_options(NAME)["top_kernels"])
