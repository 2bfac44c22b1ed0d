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


class Nsys(launching.Launcher):
    spec = ProfilerSpec(
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
    install_hint = "install Nsight Systems (https://developer.nvidia.com/nsight-systems)"

    def preflight(self, run: RunContext):
        self.executable(run)

    def tool_args(self, run: RunContext):
        return [
            "profile", "-t", "cuda,nvtx", "-s", "none", "--cpuctxsw=none",
            "--capture-range=cudaProfilerApi", "--capture-range-end=stop",
            "-f", "true", "-o", str(_base(run)), "--export=sqlite",
        ]

    def output(self, run: RunContext):
        return _base(run).with_suffix(".sqlite")

    def analyze(self, run: RunContext, path: Path):
        return analyze_nsys(path)

    def metrics(self, run: RunContext, analysis):
        return launching.timeline_metrics(analysis, run.profiler_options(NAME)["top_kernels"])


plugin = Nsys()
