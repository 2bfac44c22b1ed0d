"""The headline numbers of a run, shared by ``dnn-suite report`` (summary tables) and
``dnn-suite compare`` (side by side, with deltas): what each is, its unit, which direction is
better and which of the run's own spreads tells how noisy it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dnn_suite.reporting.rundirs import RunDir

HIGHER, LOWER, NEITHER = "higher", "lower", ""


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    unit: str
    better: str
    """HIGHER or LOWER is better; NEITHER: a change is neither better nor worse."""
    noise: str
    """Which spread of the run estimates this number's noise: ``throughput`` (the --repeat
    windows, else the step time), ``step`` (step-time CV), ``data`` (data-wait CV) or "" (none)."""
    digits: int = 2

    def format(self, value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.{self.digits}f}"


def _path(*keys: str, scale: float = 1.0) -> Callable[[dict[str, Any]], float | None]:
    def get(metrics: dict[str, Any]) -> float | None:
        value: Any = metrics
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return None if value is None else float(value) * scale

    return get


MIB = 1 / 2**20
# (headline, where it is in run.json's metrics)
CORE: tuple[tuple[Headline, Callable[[dict[str, Any]], float | None]], ...] = (
    (Headline("throughput", "throughput", "samples/s", HIGHER, "throughput"), _path("throughput", "value")),
    (Headline("step_time_median", "step time median", "ms", LOWER, "step"), _path("step_time_s", "median", scale=1e3)),
    (Headline("step_time_p90", "step time p90", "ms", LOWER, "step"), _path("step_time_s", "p90", scale=1e3)),
    (Headline("data_loading_share", "data-loading share", "%", LOWER, "data", 1),
     _path("data_loading_share", scale=100)),
    (Headline("max_rss", "peak memory (max RSS)", "MiB", LOWER, "", 0), _path("memory", "max_rss_bytes", scale=MIB)),
    (Headline("cuda_max_allocated", "peak CUDA memory allocated", "MiB", LOWER, "", 0),
     _path("memory", "cuda_max_allocated_bytes", scale=MIB)),
    (Headline("latency_p99", "latency p99 per batch (inference)", "ms", LOWER, "step"),
     _path("inference", "latency_s", "p99", scale=1e3)),
    # compile time depends on what the inductor cache holds: reported, never a regression
    (Headline("compile_time", "compile time (warmup)", "s", NEITHER, ""), _path("compile", "compile_time_s")),
    (Headline("recompilations", "recompilations in the windows", "", LOWER, "", 0),
     _path("compile", "recompilations")),
)

# Profiler metrics (by key, whichever profiler reported them) that make headlines. Utilization
# and energy per sample move with the throughput, so they share its noise estimate.
PROFILER: dict[str, tuple[str, str]] = {
    "gpu_util_mean": ("GPU utilization", HIGHER),
    "compute_utilization": ("GPU compute utilization", HIGHER),
    "energy_per_sample": ("GPU energy per sample", LOWER),
    "process_cpu_mean": ("process CPU", NEITHER),
    "fma_utilization": ("FMA core utilization", NEITHER),
    "fp16_utilization": ("FP16 core utilization", NEITHER),
    "tensor_utilization": ("Tensor core utilization", NEITHER),
    "sfu_utilization": ("SFU core utilization", NEITHER),
    "peak_total": ("peak tracked memory", LOWER),
    "peak_activations": ("activations at the peak", LOWER),
    "largest_batch_size": ("largest batch that fits", HIGHER),
}


# Evaluation numbers (run.json's "evaluation", written by the model plugin) that make headlines:
# what runs of different models are compared on besides speed. No spread: one evaluation per run.
EVALUATION: dict[str, str] = {"mAP": "evaluation mAP", "top1": "evaluation top-1 accuracy"}


def headlines(run: RunDir) -> list[tuple[Headline, float | None]]:
    """The run's headline numbers that it measured: core ones, its evaluation's, then the
    profilers' (a profiler's value may be None: it reported the metric but could not measure it)."""
    values = [(headline, value) for headline, get in CORE if (value := get(run.metrics)) is not None]
    evaluation = run.document.get("evaluation")
    for key, label in EVALUATION.items():
        value = evaluation.get(key) if isinstance(evaluation, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:  # not NaN
            values.append((Headline(f"evaluation.{key}", label, "", HIGHER, "", 4), float(value)))
    for profiler, report in run.profilers.items():
        for key, metric in (report.get("metrics") or {}).items():
            if key in PROFILER:
                label, better = PROFILER[key]
                unit, value = metric.get("unit", ""), metric.get("value")
                if unit == "bytes":  # memory figures, shown in MiB; a run's own spread says nothing of them
                    unit, value = "MiB", None if value is None else value * MIB
                headline = Headline(f"{profiler}.{key}", f"{label} ({profiler})", unit, better,
                                    "" if unit in ("MiB", "samples") else "throughput",
                                    3 if unit == "J/sample" else 0 if unit == "samples" else 1)
                values.append((headline, value))
    return values


def headline_table(runs: list[RunDir]) -> tuple[list[Headline], list[dict[str, float | None]]]:
    """The headlines any of the runs has (in order of first appearance) and each run's values
    by headline key."""
    per_run = [headlines(run) for run in runs]
    shown = {headline.key: headline for values in per_run for headline, _ in values}
    return list(shown.values()), [{headline.key: value for headline, value in values} for values in per_run]
