"""``dnn-suite compare A B [...]``: the runs' headline numbers side by side, each run's relative
delta against the first, and whether a delta is beyond the runs' own noise.

Noise. Each run estimates the relative standard error of its numbers from its own spread:

* throughput: the spread of the ``--repeat`` windows, ``CV(window throughputs) / sqrt(windows)``;
  with one window, the step-time CV over the iterations, ``CV(step times) / sqrt(iterations)``
  (throughput is samples over the summed iteration times);
* step time median and p90: ``CV(step times) / sqrt(iterations)``;
* data-loading share s = D / (D + S) of the summed data waits D and step times S: by the delta
  method ``(1 - s) * sqrt(se_D^2 + se_S^2)``, each ``se = CV / sqrt(iterations)``;
* profiler utilization and energy per sample move with the throughput: its estimate;
* peak memory: none (it barely varies between identical runs).

A delta is noise when ``|delta| <= max(NOISE_FLOOR, NOISE_SIGMAS * sqrt(se_a^2 + se_b^2))``.
The floor keeps long, very steady runs (whose standard errors are tiny) from flagging the
run-to-run variation that no single run can see. Beyond the noise, a change in the worse
direction of the metric is a regression, in the better direction an improvement; metrics
with no better direction (CPU use, core utilization) are "changed".

Comparable runs. A verdict says the code or the machine changed, so it is given only where the
runs measured the same thing the same way:

* settings that change what a step does (model, precision, device, profilers, ``--compile``, ...)
  differ: a different experiment, no verdicts (the deltas are shown); so does the scenario (a
  training run and an inference run measure different steps);
* only the batch size differs: per-sample numbers are compared (throughput, step time per sample,
  energy per sample), the rest (memory grows with the batch) is not;
* settings that do not change a step (how long it measured, where it wrote, profiler options, the
  seed) do not count, and are not listed as differences;
* a run measured on a busy machine (:mod:`dnn_suite.run.machine_load`) gets no verdict unless
  ``--ignore-busy``: its numbers include other processes' interference.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnn_suite.atomic import to_json_text
from dnn_suite.errors import UsageError
from dnn_suite.run.measurement_quality import run_warnings
from dnn_suite.reporting.headline import HIGHER, LOWER, Headline, headline_table
from dnn_suite.reporting.rundirs import RunDir, config_differences, load_run

NOISE_SIGMAS = 2.0
NOISE_FLOOR = 0.01
BASELINE, NOISE, BETTER, REGRESSION, CHANGED, MISSING = "baseline", "noise", "better", "regression", "changed", "n/a"
NOT_COMPARED = "not compared"
EXIT_REGRESSION = 1
#: settings that do not change what a measured step does
NOT_MEASURED = frozenset({"output", "data_root", "eval_dataset", "evaluate", "batch_sizes", "benchmark", "warmup",
                          "iterations", "duration", "repeat", "seed"})
NOT_MEASURED_PREFIXES = ("profiler_options.",)
#: headlines compared per sample when only the batch size differs (step time is divided by it)
PER_SAMPLE = frozenset({"throughput", "step_time_median", "step_time_p90"})
#: settings added after runs were recorded: a run.json without one ran with this value
RECORDED_SINCE = {"scenario": "train", "compile": None}


@dataclass(frozen=True)
class Comparability:
    """How a run is compared with the baseline: ``all`` its numbers, ``per_sample`` ones, or ``none``."""

    verdicts: str
    reason: str = ""


def measured_differences(runs: list[RunDir]) -> list[str]:
    """The settings that differ between the runs and change what a measured step does."""
    return [key for key in config_differences(runs)
            if key not in NOT_MEASURED and not key.startswith(NOT_MEASURED_PREFIXES)
            and not (key in RECORDED_SINCE and len({setting(run, key) for run in runs}) == 1)]


def setting(run: RunDir, key: str) -> Any:
    """A top-level setting of the run, as it ran where its run.json predates it."""
    return run.config.get(key, RECORDED_SINCE.get(key))


def comparability(base: RunDir, run: RunDir, index: int, *, ignore_busy: bool = False) -> Comparability:
    """Whether run #``index`` (from 1) can get verdicts against the baseline, and why not."""
    busy = [f"#{i}" for i, r in ((1, base), (index, run)) if (r.document.get("machine_load") or {}).get("busy")]
    if busy and not ignore_busy:
        return Comparability("none", f"not comparable: the machine was busy during {' and '.join(busy)} (other "
                                     "processes took CPU time while it measured; --ignore-busy to compare anyway)")
    differences = measured_differences([base, run])
    if "scenario" in differences:
        return Comparability("none", f"not comparable: the scenarios differ ({setting(base, 'scenario')} vs "
                                     f"{setting(run, 'scenario')}), the runs measure different steps: deltas "
                                     "without verdicts")
    if "model" in differences:  # each model has options of its own: listing them says nothing
        differences = [key for key in differences if not key.startswith("model_options.")]
    if not differences:
        return Comparability("all")
    if differences == ["batch_size"]:
        sizes = f"{base.config.get('batch_size')} vs {run.config.get('batch_size')}"
        return Comparability("per_sample", f"only the batch size differs ({sizes}): throughput and step time are "
                                           "compared per sample, the other numbers are not")
    return Comparability("none", f"not comparable: a different experiment (settings differ in "
                                 f"{', '.join(differences)}): deltas without verdicts")


@dataclass
class Cell:
    value: float | None
    delta: float | None = None
    """(value - baseline) / |baseline|."""
    noise: float | None = None
    """The relative band within which a delta is noise."""
    verdict: str = MISSING


@dataclass
class Row:
    headline: Headline
    cells: list[Cell]


def relative_noise(run: RunDir, source: str) -> float:
    """The run's relative standard error for a headline's noise ``source`` (0 when unknown)."""
    metrics = run.metrics
    spread = metrics.get("throughput_spread") or {}
    if source == "throughput" and spread.get("cv") is not None:
        return spread["cv"] / math.sqrt(len(metrics.get("windows") or [None]))
    if source not in ("throughput", "step", "data"):
        return 0.0
    step = _standard_error(metrics, "step_time_s")
    if source != "data":
        return step
    share = metrics.get("data_loading_share")
    return 0.0 if share is None else (1 - share) * math.hypot(_standard_error(metrics, "data_wait_s"), step)


def _standard_error(metrics: dict[str, Any], statistics: str) -> float:
    """Relative standard error of the mean of per-iteration values: CV / sqrt(iterations)."""
    cv = (metrics.get(statistics) or {}).get("cv")
    iterations = metrics.get("iterations") or 0
    return cv / math.sqrt(iterations) if cv is not None and iterations > 0 else 0.0


def comparabilities(runs: list[RunDir], *, ignore_busy: bool = False) -> list[Comparability]:
    """How each run after the baseline is compared with it."""
    return [comparability(runs[0], run, index, ignore_busy=ignore_busy) for index, run in enumerate(runs[1:], 2)]


def compare(runs: list[RunDir], *, ignore_busy: bool = False) -> list[Row]:
    shown, per_run = headline_table(runs)
    compared = comparabilities(runs, ignore_busy=ignore_busy)
    rows = []
    for headline in shown:
        values = [run_values.get(headline.key) for run_values in per_run]
        cells = [Cell(values[0], verdict=BASELINE if values[0] is not None else MISSING)]
        cells += [_cell(headline, runs[0], values[0], run, value, how)
                  for run, value, how in zip(runs[1:], values[1:], compared, strict=True)]
        rows.append(Row(headline, cells))
    return rows


def _cell(headline: Headline, base_run: RunDir, base: float | None, run: RunDir, value: float | None,
          how: Comparability) -> Cell:
    if base is None or value is None or base == 0:
        return Cell(value)
    delta = (value - base) / abs(base)
    if how.verdicts == "none" or (how.verdicts == "per_sample" and headline.key not in PER_SAMPLE):
        return Cell(value, delta, verdict=NOT_COMPARED)
    if how.verdicts == "per_sample" and headline.key.startswith("step_time"):
        # step time per sample: the time of a step over its batch
        per_sample_base = base / base_run.config["batch_size"]
        delta = (value / run.config["batch_size"] - per_sample_base) / per_sample_base
    band = max(NOISE_FLOOR, NOISE_SIGMAS * math.hypot(relative_noise(base_run, headline.noise),
                                                      relative_noise(run, headline.noise)))
    if abs(delta) <= band:
        verdict = NOISE
    elif headline.better in (HIGHER, LOWER):
        verdict = BETTER if (delta > 0) == (headline.better == HIGHER) else REGRESSION
    else:
        verdict = CHANGED
    return Cell(value, delta, band, verdict)


def compare_runs(paths: list[Path], *, as_json: bool = False, fail_on_regression: bool = False,
                 ignore_busy: bool = False) -> int:
    """Print the comparison; the exit code is 1 when ``fail_on_regression`` and a regression is
    flagged, else 0."""
    if len(paths) < 2:
        raise UsageError("compare needs at least two run directories (the first is the baseline)")
    runs = [load_run(path) for path in paths]
    rows = compare(runs, ignore_busy=ignore_busy)
    flagged = regressions(rows)
    if as_json:
        sys.stdout.write(to_json_text(_json(runs, rows, ignore_busy=ignore_busy)))
    else:
        print(format_comparison(runs, rows, ignore_busy=ignore_busy))
        print(f"{len(flagged)} regression(s) beyond noise: " + ", ".join(f"{h.label} (#{i})" for h, i, _ in flagged)
              if flagged else "no regression beyond noise")
    return EXIT_REGRESSION if fail_on_regression and flagged else 0


def regressions(rows: list[Row]) -> list[tuple[Headline, int, Cell]]:
    """(metric, run number from 1, its cell) of every regression."""
    return [(row.headline, index, cell) for row in rows for index, cell in enumerate(row.cells, 1)
            if cell.verdict == REGRESSION]


def format_comparison(runs: list[RunDir], rows: list[Row], *, ignore_busy: bool = False) -> str:
    lines = [f"runs (deltas against #1; noise: {NOISE_SIGMAS:g} standard errors of both runs, at least "
             f"{NOISE_FLOOR:.0%})"]
    for index, run in enumerate(runs, 1):
        config = run.config
        window = f"{config.get('iterations')} iterations" if config.get("iterations") else f"{config.get('duration')} s"
        lines.append(f"  #{index}  {run.path}  {run.describe()}; {window} x{config.get('repeat')}; "
                     f"{run.status_text()}")
        lines += [f"      warning: {warning}" for warning in run_warnings(run.document)]
    lines += [f"  #{index}: {how.reason}" for index, how in enumerate(comparabilities(runs, ignore_busy=ignore_busy), 2)
              if how.reason]
    differences = measured_differences(runs)
    if "model" in differences:  # each model has options of its own: listing them all says nothing
        models = " vs ".join(dict.fromkeys(f"{run.config.get('model')} {run.config.get('variant')}" for run in runs))
        lines.append(f"  different models: {models}; their model options are not compared")
        differences = [key for key in differences if not key.startswith("model_options.")]
    if differences:
        lines.append(f"  the runs' settings differ in: {', '.join(differences)}")
    table = [["metric", "unit", *(f"#{i}" for i in range(1, len(runs) + 1))]]
    table += [[row.headline.label, row.headline.unit, *(_text(row.headline, cell) for cell in row.cells)]
              for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]
    return "\n".join(lines)


def _text(headline: Headline, cell: Cell) -> str:
    value = headline.format(cell.value)
    if cell.delta is None or (cell.noise is None and cell.verdict != NOT_COMPARED):
        return value
    delta = f"{cell.delta:+.1%}"
    if cell.verdict == NOT_COMPARED:
        return f"{value} {delta}"
    if cell.verdict == NOISE:
        return f"{value} {delta} (noise, ±{cell.noise:.1%})"
    word = "REGRESSION" if cell.verdict == REGRESSION else cell.verdict
    return f"{value} {delta} {word} (±{cell.noise:.1%})"


def _json(runs: list[RunDir], rows: list[Row], *, ignore_busy: bool) -> dict[str, Any]:
    compared = [Comparability("baseline"), *comparabilities(runs, ignore_busy=ignore_busy)]
    return {
        "baseline": str(runs[0].path),
        "noise": {"sigmas": NOISE_SIGMAS, "floor": NOISE_FLOOR},
        "runs": [{"index": i, "path": str(run.path), "description": run.describe(), "status": run.status,
                  "verdicts": how.verdicts, "reason": how.reason or None, "warnings": run_warnings(run.document)}
                 for i, (run, how) in enumerate(zip(runs, compared, strict=True), 1)],
        "differences": measured_differences(runs),
        "metrics": [
            {"key": row.headline.key, "label": row.headline.label, "unit": row.headline.unit,
             "better": row.headline.better or None, "values": [c.value for c in row.cells],
             "deltas": [c.delta for c in row.cells], "noise": [c.noise for c in row.cells],
             "verdicts": [c.verdict for c in row.cells]}
            for row in rows
        ],
        "regressions": [{"run": i, "metric": h.key, "delta": cell.delta} for h, i, cell in regressions(rows)],
    }
