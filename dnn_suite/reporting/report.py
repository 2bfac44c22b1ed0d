"""``dnn-suite report``: a Markdown or self-contained HTML report of a run or a sweep.

What a run's report holds, each part only when the run has the data for it: the headline
numbers, the step-time distribution, the loss curve (iterations.csv), utilization over the
measured windows (any profiler's ``samples.csv`` with a ``timestamp_s`` column and ``*_pct``
columns: NVML, CPU), the kernels and operators that took the most time (a profiler's
``analysis.json`` tables ``top_kernels`` or ``per_kernel``, or ``top_ops.json``), GPU core
utilization per core type (``fma|fp16|tensor|sfu_utilization`` metrics), the memory breakdown
(any profiler's ``memory.json``, see :mod:`.memory`), all profiler metrics,
the evaluation, and the configuration and environment. A sweep adds a table of its runs and
throughput against batch size, then each run's report. The core reads these artefact formats,
not profiler names, so a third-party profiler writing them is reported the same way.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dnn_suite import __version__
from dnn_suite.atomic import write_atomic
from dnn_suite.errors import UsageError
from dnn_suite.metrics import readable
from dnn_suite.run.output_dir import check_writable
from dnn_suite.reporting import gpu_time, memory, plots
from dnn_suite.reporting.headline import headline_table, headlines
from dnn_suite.reporting.plots import Axes, Series
from dnn_suite.reporting.render import Block, Image, Report, Section, Table, Text, render_html, write_markdown
from dnn_suite.reporting.results import differing_settings
from dnn_suite.reporting.rundirs import RunDir, flatten, load_runs, read_csv_numbers, read_json
from dnn_suite.run.statistics import ITERATION_COLUMNS

TOP = 15
"""Rows of the top kernels / operators tables (the bar charts show 10)."""
CORE_TYPES = {"fma": "FMA", "fp16": "FP16", "tensor": "Tensor", "sfu": "SFU"}
_CORE_COLUMN = re.compile(r"^core\d+_pct$")
_NOT_WEIGHTED = {"process_id", "id", "device", "cycles", "duration_ns", "name", "invocations"}


def write_report(path: Path, fmt: str | None = None, output: Path | None = None) -> int:
    """Write the report of the run or sweep at ``path``; the format defaults to the output's
    suffix (``.html``), else Markdown; the file defaults to ``<path>/report.<format>``."""
    runs, sweep = load_runs(path)
    fmt = fmt or ("html" if output is not None and output.suffix.lower() in (".html", ".htm") else "md")
    output = output if output is not None else path / f"report.{fmt}"
    if output.is_dir():
        raise UsageError(f"--output {output}: is a directory; expected a file name such as report.{fmt}")
    if not output.parent.is_dir():
        raise UsageError(f"--output {output}: no such directory {output.parent}")
    check_writable(output.parent, f"--output {output}")
    plotting = plots.available()
    if not plotting:
        print(f"dnn-suite: {plots.install_hint()}", file=sys.stderr)
    report = build_report(path, runs, sweep, plotting)
    if fmt == "html":
        write_atomic(output, render_html(report))
    else:
        write_markdown(report, output)
    print(f"report written to {output}")
    return 0


def build_report(path: Path, runs: list[RunDir], sweep: bool, plotting: bool) -> Report:
    intro: list[Block] = [Text(f"Source: {path.resolve()}. Generated {time.strftime('%Y-%m-%d %H:%M:%S %z')} "
                               f"by dnn-suite {__version__}.")]
    if not plotting:
        intro.append(Text(plots.install_hint()))
    if not sweep:
        return Report(f"dnn-suite report: {runs[0].describe()}", intro, RunSections(runs[0], plotting).sections())
    sections = sweep_sections(runs, plotting)
    for index, run in enumerate(runs, 1):
        sections.append(Section(f"Run {index}: {run.name} ({run.describe()})"))
        sections += RunSections(run, plotting, prefix=f"run{index}_", level=3).sections()
    return Report(f"dnn-suite sweep report: {path.resolve().name} ({len(runs)} runs)", intro, sections)


# ----------------------------------------------------------------- sweep


def sweep_sections(runs: list[RunDir], plotting: bool) -> list[Section]:
    # the settings the sweep varies (the batch size a column of its own)
    varying = differing_settings([run.config for run in runs], leave_out=("batch_size",))
    shown, per_run = headline_table(runs)
    columns = ["#", "run", "status", "batch size", *varying, *(f"{h.label} ({h.unit})" for h in shown)]
    rows = []
    for index, (run, values) in enumerate(zip(runs, per_run, strict=True), 1):
        flat = flatten(run.config)
        rows.append([str(index), run.name, run.status, str(run.config.get("batch_size")),
                     *(_cell(flat.get(key)) for key in varying),
                     *(h.format(values.get(h.key)) for h in shown)])
    blocks: list[Block] = [Table(columns, rows)]
    blocks += _throughput_vs_batch(runs, varying) if plotting else []
    sections = [Section("Runs", blocks)]
    memory_blocks = memory.sweep_blocks(runs, plotting)
    if memory_blocks:
        sections.append(Section("Memory against batch size", memory_blocks))
    return sections


def _throughput_vs_batch(runs: list[RunDir], varying: list[str]) -> list[Block]:
    """A line per model, variant, device, pass of profilers and value of the other settings varied."""
    groups: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for run in runs:
        throughput = (run.metrics.get("throughput") or {}).get("value")
        if throughput is None:
            continue
        config = run.config
        spread = run.metrics.get("throughput_spread") or {}
        label = f"{config.get('model')} {config.get('variant')} on {run.document.get('device', config.get('device'))}"
        if config.get("profilers"):  # a sweep's passes with different profilers are different lines
            label += f" ({', '.join(config['profilers'])})"
        flat = flatten(config)
        label += "".join(f", {key}={_cell(flat.get(key))}" for key in varying if key not in ("model", "variant", "device", "profilers"))
        groups[label].append((config["batch_size"], throughput, spread.get("stdev") or 0.0))
    if len({bs for points in groups.values() for bs, _, _ in points}) < 2:
        return [Text("Throughput against batch size: fewer than two batch sizes have a throughput.")]
    series = []
    for label, points in groups.items():
        sizes, throughputs, errors = zip(*sorted(points), strict=True)
        series.append(Series(label, sizes, throughputs, error=errors))
    png = plots.lines(series, Axes("batch size", "throughput (samples/s)", ymin=0), markers=True)
    return [Image("throughput_vs_batch_size", "Throughput against batch size (error bars: stdev over the "
                                              "--repeat windows)", png)]


# ----------------------------------------------------------------- one run


class RunSections:
    """The sections of one run's report; ``prefix`` keeps image names unique in a sweep."""

    def __init__(self, run: RunDir, plotting: bool, prefix: str = "", level: int = 2) -> None:
        self.run = run
        self.plotting = plotting
        self.prefix = prefix
        self.level = level

    def sections(self) -> list[Section]:
        parts = (self.summary, self.step_times, self.loss, self.utilization, self.gpu_time, self.top_time,
                 self.core_utilization,
                 self.memory, self.profiler_metrics, self.evaluation, self.configuration, self.environment)
        return [section for part in parts if (section := part()) is not None]

    def _section(self, title: str, blocks: list[Block]) -> Section | None:
        return Section(title, blocks, self.level) if blocks else None

    def _image(self, name: str, caption: str, draw: Callable[..., bytes], *args: Any, **kwargs: Any) -> list[Block]:
        """``draw(*args, **kwargs)`` as an image, when plotting."""
        return [Image(self.prefix + name, caption, draw(*args, **kwargs))] if self.plotting else []

    # ------------------------------------------------------------- parts

    def summary(self) -> Section:
        document, metrics = self.run.document, self.run.metrics
        status = self.run.status_text()
        blocks: list[Block] = [Text(f"Run {self.run.path} — status {status}; started {document.get('started_at')}, "
                                    f"finished {document.get('finished_at')}.")]
        rows = [[h.label, h.format(value), h.unit] for h, value in headlines(self.run)]
        if metrics:
            rows += [["measured iterations", str(metrics.get("iterations")), ""],
                     ["samples", str(metrics.get("samples")), ""],
                     ["measured time", f"{metrics.get('window_time_s', 0):.3f}", "s"]]
        blocks.append(Table(["metric", "value", "unit"], rows))
        windows = metrics.get("windows") or []
        if len(windows) > 1:
            spread = metrics.get("throughput_spread") or {}
            blocks.append(Text(f"{len(windows)} measured windows; throughput CV {_pct(spread.get('cv'))}."))
            columns = ["window", "iterations", "samples", "time (s)", "throughput (samples/s)", "interrupted"]
            blocks.append(Table(columns, [[str(w["index"]), str(w["iterations"]), str(w["samples"]),
                                           f"{w['wall_s']:.3f}", f"{w['throughput']:,.2f}",
                                           "yes" if w.get("interrupted") else "no"] for w in windows]))
        return Section("Summary", blocks, self.level)

    def step_times(self) -> Section | None:
        step, data = self.run.metrics.get("step_time_s"), self.run.metrics.get("data_wait_s")
        if not step or step.get("mean") is None:
            return None
        rows = [[name, _ms(step.get(name)), _ms((data or {}).get(name))]
                for name in ("mean", "median", "p90", "p99", "stdev", "min", "max")]
        rows.append(["CV", _pct(step.get("cv")), _pct((data or {}).get("cv"))])
        values = [row["step_s"] * 1e3 for row in self.run.iterations if row.get("step_s") is not None]
        marks = {"median": step["median"] * 1e3, "p90": step["p90"] * 1e3}
        blocks = self._image("step_time", "Step time distribution over the measured iterations", plots.histogram,
                             values, Axes("step time (ms)", "iterations", marks=marks)) if values else []
        blocks.append(Table(["statistic", "step time (ms)", "data wait (ms)"], rows))
        return self._section("Step time distribution", blocks)

    def loss(self) -> Section | None:
        rows = [row for row in self.run.iterations if row.get("loss") is not None]
        if not rows:
            return None
        components = [c for c in rows[0] if c not in ITERATION_COLUMNS and c != "rank"]
        # Loss terms share the loss's axis; counts the step reports (num_positives, matched
        # anchors), told apart by being whole numbers throughout, are on a plot of their own.
        others = [c for c in components if _whole_numbers(row.get(c) for row in rows)]
        x = list(range(len(rows)))
        series = [Series(c, x, [row.get(c) for row in rows]) for c in ["loss", *components] if c not in others]
        boundaries = [i - 0.5 for i in range(1, len(rows)) if rows[i]["window"] != rows[i - 1]["window"]]
        losses = [v for s in series for v in s.y if v is not None]
        log = min(losses) > 0 and max(losses) > 1000 * min(losses)  # e.g. a diverging run
        axes = Axes("measured iteration", "loss (log scale)" if log else "loss", boundaries=boundaries, log=log)
        blocks = self._image("loss", "Training loss per measured iteration (dotted lines: window boundaries)",
                             plots.lines, series, axes)
        if others:
            blocks += self._image("step_values", f"Other values of the training step: {', '.join(others)}",
                                  plots.lines, [Series(c, x, [row.get(c) for row in rows]) for c in others],
                                  Axes("measured iteration", "value", boundaries=boundaries))
        loss = self.run.metrics.get("loss") or {}
        blocks.append(Table(["first", "last", "mean"], [[_num(loss.get(k)) for k in ("first", "last", "mean")]]))
        return self._section("Loss", blocks)

    def utilization(self) -> Section | None:
        blocks: list[Block] = []
        for profiler in self.run.profilers:
            path = self.run.artefact(profiler, "samples.csv")
            rows = read_csv_numbers(path) if path else []
            if not rows or "timestamp_s" not in rows[0]:
                continue
            series, boundaries = utilization_series(rows)
            if not series:
                continue
            blocks.append(Text(f"{profiler}/samples.csv: {len(rows)} samples."))
            top = max([100.0, *(v for s in series for v in (s.high or s.y) if v is not None)])
            axes = Axes("time (s)", "utilization (%)", boundaries=boundaries, ymin=0, ymax=top * 1.05)
            blocks += self._image(f"utilization_{profiler}", f"{profiler}: utilization during the measured windows "
                                  "(dotted lines: window boundaries)", plots.lines, series, axes)
        return self._section("Utilization over the measured windows", blocks)

    def top_time(self) -> Section | None:
        blocks: list[Block] = []
        for profiler in self.run.profilers:
            analysis = read_json(self.run.artefact(profiler, "analysis.json"))
            tables = analysis.get("tables", {}) if isinstance(analysis, dict) else {}
            if tables.get("top_kernels"):
                blocks += self._top_kernels(profiler, tables["top_kernels"])
            if tables.get("per_kernel"):
                blocks += self._per_kernel(profiler, tables["per_kernel"])
            operators = read_json(self.run.artefact(profiler, "top_ops.json"))
            if isinstance(operators, list) and operators:
                blocks += self._operators(profiler, operators)
        return self._section("Top kernels and operators by time", blocks)

    def _top_kernels(self, profiler: str, rows: list[dict[str, Any]]) -> list[Block]:
        rows = sorted(rows, key=lambda r: r["total_ns"], reverse=True)[:TOP]
        names = [r["name"] if r.get("device") is None else f"gpu{r['device']} {r['name']}" for r in rows]
        table = Table(["kernel", "launches", "total (ms)", "mean (us)", "share of its device's kernel time"],
                      [[name, str(r["instances"]), _num(r["total_ns"] / 1e6, 3), _num(r["avg_ns"] / 1e3),
                        _pct(r["time_pct"] / 100 if r.get("time_pct") is not None else None)]
                       for name, r in zip(names, rows, strict=True)])
        return [Text(f"{profiler}: kernels by total time (from {profiler}/analysis.json)."), table,
                *self._bars(f"kernels_{profiler}", f"{profiler}: kernels by total time", names,
                            [r["total_ns"] / 1e6 for r in rows], "total time (ms)")]

    def _per_kernel(self, profiler: str, launches: list[dict[str, Any]]) -> list[Block]:
        kernels = aggregate_kernels(launches)
        by = "duration_ns" if any(k["duration_ns"] for k in kernels) else "cycles"
        kernels = sorted(kernels, key=lambda k: k[by], reverse=True)
        total = sum(k[by] for k in kernels) or 1
        weighted = [c for c in kernels[0] if c not in _NOT_WEIGHTED and c != "launches"]
        unit = "total (ms)" if by == "duration_ns" else "cycles (M)"
        scale = 1e-6  # ns to ms, or cycles to millions
        columns = ["kernel", "launches", unit, "share", *(f"{c.removesuffix('_utilization')} (%)" for c in weighted)]
        table = Table(columns, [[k["name"], str(k["launches"]), _num(k[by] * scale, 3), _pct(k[by] / total),
                                 *(_num(k[c], 1) for c in weighted)] for k in kernels[:TOP]])
        return [Text(f"{profiler}: kernels by {'time' if by == 'duration_ns' else 'cycles'} over "
                     f"{len(launches)} profiled launches; per-kernel columns are cycle-weighted means."), table,
                *self._bars(f"kernels_{profiler}", f"{profiler}: kernels by {unit}",
                            [k["name"] for k in kernels], [k[by] * scale for k in kernels], unit)]

    def _operators(self, profiler: str, rows: list[dict[str, Any]]) -> list[Block]:
        key = "self_cuda_time_us" if any("self_cuda_time_us" in r for r in rows) else "self_cpu_time_us"
        rows = sorted(rows, key=lambda r: r.get(key) or 0, reverse=True)[:TOP]
        cuda = key == "self_cuda_time_us"
        columns = ["operator", "calls", "self CPU (ms)", "CPU total (ms)", *(["self CUDA (ms)"] if cuda else [])]
        table = Table(columns, [[r["name"], str(r["calls"]), _num(r["self_cpu_time_us"] / 1e3, 3),
                                 _num(r["cpu_total_us"] / 1e3, 3),
                                 *([_num(r["self_cuda_time_us"] / 1e3, 3)] if cuda else [])] for r in rows])
        what = "self CUDA time" if cuda else "self CPU time"
        return [Text(f"{profiler}: operators by {what} (from {profiler}/top_ops.json)."), table,
                *self._bars(f"operators_{profiler}", f"{profiler}: operators by {what}",
                            [r["name"] for r in rows], [(r.get(key) or 0) / 1e3 for r in rows], f"{what} (ms)")]

    def _bars(self, name: str, caption: str, labels: list[str], values: list[float], unit: str) -> list[Block]:
        return self._image(name, caption, plots.bars, labels[:10], values[:10], Axes(unit, ""))

    def core_utilization(self) -> Section | None:
        blocks: list[Block] = []
        for profiler, report in self.run.profilers.items():
            metrics = report.get("metrics") or {}
            found = {label: metrics[f"{core}_utilization"] for core, label in CORE_TYPES.items()
                     if f"{core}_utilization" in metrics}
            if not found:
                continue
            blocks.append(Table(["core type", "utilization (%)", "how"], [[label, _num(m.get("value"), 1),
                                                                          m.get("description", "")]
                                                                         for label, m in found.items()]))
            blocks += self._image(f"core_utilization_{profiler}", f"{profiler}: GPU core utilization per core type",
                                  plots.bars, list(found), [m.get("value") or 0.0 for m in found.values()],
                                  Axes("utilization (% of peak)", "", xmax=100))
        return self._section("GPU core utilization per core type", blocks)

    def gpu_time(self) -> Section | None:
        return self._section("Where the step time goes", gpu_time.run_blocks(self.run, self._image))

    def memory(self) -> Section | None:
        return self._section("Memory", memory.run_blocks(self.run, self._image))

    def profiler_metrics(self) -> Section | None:
        blocks: list[Block] = []
        for profiler, report in self.run.profilers.items():
            blocks.append(Text(f"{profiler}: " + (f"error: {report['error']}" if report.get("error") else
                                                 f"artefacts {', '.join(report.get('artefacts') or []) or 'none'}.")))
            metrics = report.get("metrics") or {}
            if metrics:
                blocks.append(Table(["metric", "value", "description"],
                                    [[key, readable(m.get("value"), m.get("unit", "")), m.get("description", "")]
                                     for key, m in metrics.items()]))
        return self._section("Profiler metrics", blocks)

    def evaluation(self) -> Section | None:
        evaluation = self.run.document.get("evaluation")
        if not isinstance(evaluation, dict):
            return None
        return self._section("Evaluation", [_key_values(flatten(evaluation))])

    def configuration(self) -> Section:
        """The settings as the run resolved them: ``device cpu (auto)``, ``workers 2 (default for cpu)``."""
        flat = {key: _cell(value) for key, value in flatten(self.run.config).items()}
        document = self.run.document
        loader = document.get("data_loader") if isinstance(document.get("data_loader"), dict) else {}
        resolved = {"device": (document.get("device"), "auto"),
                    "workers": (loader.get("workers"), loader.get("workers_from") or "default")}
        for key, (value, source) in resolved.items():
            if key in flat and value is not None and _cell(value) != flat[key]:
                flat[key] = f"{_cell(value)} ({source})"
        return Section("Configuration", [Table(["key", "value"], [[k, v] for k, v in flat.items()])], self.level)

    def environment(self) -> Section | None:
        return self._section("Environment", [_key_values(flatten(self.run.document.get("environment") or {}))])


# ----------------------------------------------------------------- data shaping


def utilization_series(rows: list[dict[str, float | None]]) -> tuple[list[Series], list[float]]:
    """Lines of a samples CSV: each ``*_pct`` column per device (``device_index``), the
    ``core<N>_pct`` columns as their mean with a min-max band; times made continuous where
    each window restarts its clock (``window`` column). Returns the series and the times at
    which a new window starts."""
    times, boundaries = _continuous_times(rows)
    columns = [c for c in rows[0] if c.endswith("_pct")]
    cores = [c for c in columns if _CORE_COLUMN.match(c)]
    devices = sorted({row.get("device_index") for row in rows}, key=lambda d: -1 if d is None else d)
    series = []
    for device in devices:
        picked = [(t, row) for t, row in zip(times, rows, strict=True) if row.get("device_index") == device]
        x = [t for t, _ in picked]
        suffix = "" if device is None else f" (device {device:.0f})"
        for column in columns:
            if column in cores or all(row.get(column) is None for _, row in picked):
                continue
            series.append(Series(column.removesuffix("_pct").replace("_", " ") + suffix, x,
                                 [row.get(column) for _, row in picked]))
        if cores:
            values = [[row[c] for c in cores if row.get(c) is not None] for _, row in picked]
            series.append(Series(f"CPU cores, mean of {len(cores)} (band: min-max){suffix}", x,
                                 [sum(v) / len(v) if v else None for v in values],
                                 [min(v, default=None) for v in values], [max(v, default=None) for v in values]))
    return series, boundaries


def _continuous_times(rows: list[dict[str, float | None]]) -> tuple[list[float], list[float]]:
    times: list[float] = []
    boundaries: list[float] = []
    offset, latest, window = 0.0, 0.0, rows[0].get("window")
    for row in rows:
        t = row["timestamp_s"] or 0.0
        if row.get("window") != window:
            window = row.get("window")
            boundaries.append(latest)
            offset = max(offset, latest - t)
        times.append(t + offset)
        latest = max(latest, t + offset)
    return times, boundaries


def aggregate_kernels(launches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-launch rows (``per_kernel``) summed per kernel name: launches, cycles, duration, and
    every other numeric column as a cycle-weighted mean (None where no launch has it). A row
    with ``invocations`` (from ncu's per-kernel summary) stands for that many launches."""
    columns = list(dict.fromkeys(column for launch in launches for column, value in launch.items()
                                 if column not in _NOT_WEIGHTED and isinstance(value, (int, float))))
    kernels: dict[str, dict[str, Any]] = {}
    weighted: dict[str, dict[str, list[float]]] = {}
    for launch in launches:
        name = launch["name"]
        if name not in kernels:
            kernels[name] = {"name": name, "launches": 0, "cycles": 0.0, "duration_ns": 0.0}
            weighted[name] = {column: [0.0, 0.0] for column in columns}  # sum of cycles * value, of cycles
        count = launch.get("invocations") or 1
        kernel, cycles = kernels[name], (launch.get("cycles") or 0.0) * count
        kernel["launches"] += count
        kernel["cycles"] += cycles
        kernel["duration_ns"] += (launch.get("duration_ns") or 0.0) * count
        for column, sums in weighted[name].items():
            if isinstance(launch.get(column), (int, float)):
                sums[0] += cycles * launch[column]
                sums[1] += cycles
    for name, kernel in kernels.items():
        kernel.update({column: total / weight if weight else None
                       for column, (total, weight) in weighted[name].items()})
    return list(kernels.values())


def _whole_numbers(values: Iterable[float | None]) -> bool:
    present = [value for value in values if value is not None]
    return bool(present) and all(float(value).is_integer() for value in present)


def _key_values(flat: dict[str, Any]) -> Table:
    return Table(["key", "value"], [[key, _cell(value)] for key, value in flat.items()])


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _num(value)
    if value is None:
        return "not set"
    return json.dumps(value)


def _num(value: float | None, digits: int | None = None) -> str:
    """A number for a table: ``digits`` decimals, else 4 significant digits (whole numbers with
    thousands separators from 1,000 to 1e9); n/a for None."""
    if value is None:
        return "n/a"
    if isinstance(value, int) and digits is None:
        return f"{value:,}"
    if digits is not None:
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}" if 1000 <= abs(value) < 1e9 else f"{value:.4g}"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.3f}"


def _pct(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{fraction * 100:.1f}%"
