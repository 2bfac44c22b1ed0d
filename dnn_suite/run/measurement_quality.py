"""Whether a run's numbers mean something: the warnings a run prints at its end and records in
run.json, and that ``compare`` repeats before it gives a verdict.

* **Busy machine** (:mod:`dnn_suite.run.machine_load`): other processes took more than a tenth of
  the machine's CPU time while the run measured; its numbers include their interference.
* **Short window**: a measured window under :data:`MIN_WINDOW_S` is dominated by one slow step,
  the clock's resolution and the start-up of the window (caches, clocks, lazily built kernels).
* **Noisy steps**: a step-time CV above :data:`NOISY_STEP_CV`, or window throughputs whose CV is
  above :data:`NOISY_WINDOW_CV`: the mean is not a steady state.
"""

from __future__ import annotations

from typing import Any

MIN_WINDOW_S = 1.0
NOISY_STEP_CV = 0.25
NOISY_WINDOW_CV = 0.10


def busy_warning(document: dict[str, Any]) -> str | None:
    load = document.get("machine_load")
    if not isinstance(load, dict) or not load.get("busy"):
        return None
    return (f"the machine was busy while this run measured: other processes took {load['others_share']:.0%} of "
            f"its CPU time ({load['others_cpu_s']:.1f} s over {load['wall_s']:.1f} s on {load['cpus']} CPUs; "
            f"load average {load['load_average_end']:.1f}); its numbers include their interference: measure on "
            "an idle machine before comparing")


def short_window_warning(metrics: dict[str, Any]) -> str | None:
    windows = [w for w in metrics.get("windows") or [] if isinstance(w, dict) and w.get("wall_s") is not None]
    if not windows:
        return None
    shortest = min(w["wall_s"] for w in windows)
    if shortest >= MIN_WINDOW_S:
        return None
    return (f"the {'shortest ' if len(windows) > 1 else ''}measured window lasted {shortest:.2f} s, under "
            f"{MIN_WINDOW_S:g} s: one slow step and the clock's resolution weigh on its numbers; measure for "
            f"longer (--duration 10, or more --iterations)")


def noise_warning(metrics: dict[str, Any]) -> str | None:
    step_cv = (metrics.get("step_time_s") or {}).get("cv")
    spread_cv = (metrics.get("throughput_spread") or {}).get("cv")
    if step_cv is not None and step_cv > NOISY_STEP_CV:
        return (f"step times vary by {step_cv:.0%} (coefficient of variation, above {NOISY_STEP_CV:.0%}): the "
                "mean is not a steady state; warm up longer (--warmup) and measure more iterations (--iterations) "
                "or windows (--repeat 3)")
    if spread_cv is not None and spread_cv > NOISY_WINDOW_CV:
        return (f"the windows' throughputs vary by {spread_cv:.0%} (coefficient of variation, above "
                f"{NOISY_WINDOW_CV:.0%}): measure longer windows (--duration) or more of them (--repeat)")
    return None


def compile_warnings(metrics: dict[str, Any]) -> list[str]:
    """What makes a compiled run's step times include compilation."""
    record = metrics.get("compile")
    if not isinstance(record, dict):
        return []
    warnings = []
    if not record.get("stable", True):
        warnings.append(f"the model still compiled at the end of {record['warmup_iterations']} warmup iterations "
                        f"(--compile {record['mode']}): the windows may time compilation")
    if record.get("recompilations"):
        warnings.append(f"{record['recompilations']} recompilation(s) during the measured windows "
                        f"({record['recompile_time_s']:.2f} s; --compile {record['mode']}): their time is in the "
                        "step times")
    return warnings


def run_warnings(document: dict[str, Any]) -> list[str]:
    """Every warning about the measurement of a run (its run.json document), most serious first."""
    metrics = document.get("metrics") if isinstance(document.get("metrics"), dict) else {}
    found = (busy_warning(document), *compile_warnings(metrics), short_window_warning(metrics), noise_warning(metrics))
    return [warning for warning in found if warning]
