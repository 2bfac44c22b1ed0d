"""Sweeps: ``dnn-suite run MODEL --batch-size 1,2,4,8`` (or ``batch_sizes`` in suite.yaml), like
the original benchmark's ``profile.sh``, and sweeps over any run setting: ``--sweep KEY=V1,V2``
or ``sweep:`` in suite.yaml (:mod:`dnn_suite.settings.sweep_axes`), every combination of values.

Every point runs in its own process (``python -m dnn_suite run --config SWEEP_DIR/suite.yaml
ENTRY --output SWEEP_DIR --json``, an argument list, no shell), so an out-of-memory error, a
crash or a kill in one point is recorded — status, reason, exit code, the tail of its stderr —
and the sweep goes on with the next point. Each point's configuration is resolved here before
anything runs (a value no point could run is refused at once) and written to the sweep
directory's ``suite.yaml`` as an entry of its own (``<entry>.<n>``, the ``benchmark`` its
run.json records), so a point runs exactly the settings it was checked with.

Profilers that cannot share a run (two launchers, such as ``nsys`` and ``nsight``, or a
launcher and a sampler it conflicts with) run as separate *passes* of each point, as
``profile.sh`` ran nvprof and ncu one after the other; see :func:`profiler_passes`.

The sweep directory ``<output>/<time>_sweep_<model>-<variant>/`` (``sweep_<model>+<model>...``
when the models vary) holds every point's run directory, its console log
(``[<entry>.<n>_]bs<B>[_<profilers>].log``) and ``sweep.json``: ``sweep`` (each swept setting's
values), ``runs`` (the run directories relative to the sweep, what ``dnn-suite report`` reads)
and ``points`` (each with its ``settings``); with the memory profiler and only the batch size
swept, ``memory_fit``: memory = fixed + per-sample x batch size fitted on every batch size but
the largest, its error there and the largest batch that fits (see
:func:`dnn_suite.reporting.memory.sweep_fit`). The table: :mod:`dnn_suite.run.sweep_table`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from dnn_suite import signals
from dnn_suite.run import runstate
from dnn_suite.atomic import to_json_text, write_atomic, write_json_atomic
from dnn_suite.settings.resolve import RunConfig, combination_error
from dnn_suite.settings.sweep_axes import combinations, describe, value_text
from dnn_suite.errors import UsageError, reason
from dnn_suite.executors import ACTIVE, Executor, Job, JobState, Task, executor
from dnn_suite.run.output_dir import SCHEMA_VERSION, new_run_dir
from dnn_suite.registry import Registry
from dnn_suite.reporting import memory
from dnn_suite.reporting.headline import headlines
from dnn_suite.reporting.rundirs import RUN_FILE, SWEEP_FILE, RunDir, load_run
from dnn_suite.run.runner import Run
from dnn_suite.run.sweep_table import format_sweep

SUITE_FILE = "suite.yaml"
TAIL_LINES = 20
# A scheduler's end of a job that is not the command's own: the point's status, and the end in words.
SCHEDULER_ENDS = {"TIMEOUT": "timed_out", "DEADLINE": "timed_out", "CANCELLED": "cancelled",
                  "PREEMPTED": "preempted", "OUT_OF_MEMORY": "out_of_memory", "NODE_FAIL": "crashed",
                  "BOOT_FAIL": "crashed"}
SCHEDULER_ENDS_SAID = {"TIMEOUT": "the job reached its time limit", "DEADLINE": "the job reached its deadline",
                       "CANCELLED": "the job was cancelled (scancel)", "PREEMPTED": "the job was preempted",
                       "OUT_OF_MEMORY": "the job exceeded its memory limit", "NODE_FAIL": "a node of the job failed",
                       "BOOT_FAIL": "the job's node did not boot"}
# Settings a point gets from its command line, or that a point's suite.yaml entry cannot hold.
_PER_POINT = ("batch_sizes", "sweep", "profilers", "output", "benchmark")
#: a sweep point's configuration from its swept values (through ``dnn_suite.settings.resolve.with_point``)
PointResolver = Callable[[dict[str, Any]], RunConfig]
#: models named in a sweep directory's name, at most
NAMED_MODELS = 3


@dataclasses.dataclass
class Point:
    """One combination of the swept values under one pass of profilers, and what became of it."""

    batch_size: int
    profilers: list[str]
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    """the swept settings' values at this point by key path (``model``, ``batch_size``, ``model_options.amp``)"""
    entry: str | None = None
    """its entry in the sweep's suite.yaml (None in a batch-size sweep recorded before points had their own)"""
    status: str = "pending"
    """ok, failed (the run recorded its failure), out_of_memory, crashed, interrupted; from a
    scheduler also timed_out, cancelled, preempted, and pending or running while it is not over"""
    reason: str | None = None
    exit_code: int | None = None
    stderr_tail: str = ""
    run_dir: str | None = None
    """relative to the sweep directory; None when the point died before creating it"""
    log: str = ""
    metrics: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """headline metrics (``dnn_suite.reporting.headline``): key -> {label, value, unit}"""
    job_id: str | None = None
    """the executor's job (a SLURM job id such as ``1234_0``; ``local-N`` here)"""
    state: str | None = None
    """the executor's state of the job (SLURM's: PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT...)"""
    earlier_runs: list[str] = dataclasses.field(default_factory=list)
    """run directories of earlier tries (``dnn-suite status --resubmit-failed``)"""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def profiler_passes(profilers: list[str], registry: Registry) -> list[list[str]]:
    """Split the chosen profilers into as few runs as needed, each a valid combination.

    First fit, in the order given: each profiler joins the first pass it can share a run with
    (at most one launcher, no declared conflict), else opens a new one. ``nsys, nsight, nvml``
    gives ``[nsys, nvml]`` and ``[nsight]``; no profilers gives one pass without any.
    """
    passes: list[list[str]] = []
    for name in profilers:
        for chosen in passes:
            if combination_error([*chosen, name], registry) is None:
                chosen.append(name)
                break
        else:
            passes.append([name])
    return passes or [[]]


def axes_of(config: RunConfig) -> dict[str, list[Any]]:
    """The settings the sweep varies and their values; a ``--batch-size 2,4`` sweep's last (varying fastest)."""
    return {**(config.sweep or {}), **({"batch_size": config.batch_sizes} if config.batch_sizes else {})}


def _suite_entry(config: RunConfig) -> dict[str, Any]:
    """A point's resolved settings as a suite.yaml benchmark entry."""
    entry = {key: value for key, value in config.to_json().items() if key not in _PER_POINT and value is not None}
    return {"model": config.model, **entry}


def _classify(code: int, document: dict[str, Any] | None, tail: str) -> tuple[str, str | None]:
    """(status, reason) of a finished point from its exit code, run.json and stderr."""
    error = (document or {}).get("error")
    recorded = (document or {}).get("status")
    if code == 0 and recorded == "ok":
        return "ok", None
    stopped = {128 + s for s in signals.HANDLED} | {-s for s in signals.HANDLED}
    if code in stopped or recorded == "interrupted":
        return "interrupted", error or signals.reason()
    if "out of memory" in f"{error} {tail}".lower():
        return "out_of_memory", error or _last_error_line(tail)
    if recorded == "failed":
        return "failed", error
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (the kernel's out-of-memory killer sends SIGKILL)" if -code == signal.SIGKILL else ""
        return "crashed", f"killed by {name}{hint}"
    return "crashed", _last_error_line(tail) or f"exit code {code}"


def _last_error_line(tail: str) -> str | None:
    lines = [line for line in tail.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [None])[-1]


class Sweep:
    """A sweep's directory, its points, the executor that runs them and sweep.json."""

    def __init__(self, directory: Path, document: dict[str, Any], points: list[Point], executor: Executor) -> None:
        self.dir = directory
        self.document = document
        self.points = points
        self.executor = executor
        self.entry = document.get("entry", "sweep")

    @classmethod
    def create(cls, config: RunConfig, resolve_point: PointResolver, registry: Registry,
               executor_name: str = "local", executor_settings: dict[str, Any] | None = None) -> Sweep:
        """A new sweep directory with its suite.yaml, once every point's configuration passed its
        checks (``resolve_point``: a point's configuration from its values)."""
        axes = axes_of(config)
        passes = profiler_passes(config.profilers, registry)
        entry = config.benchmark or "sweep"
        entries, points = {}, []
        for number, values in enumerate(combinations(axes), 1):
            try:
                point_config = resolve_point(values)
                for profilers in passes:  # a missing tool, a batch size too small: refused before anything runs
                    Run(dataclasses.replace(point_config, profilers=profilers), registry).preflight()
            except UsageError as error:
                raise UsageError(f"sweep point {describe(values)}: {error}") from None
            entries[f"{entry}.{number}"] = _suite_entry(point_config)
            points += [Point(point_config.batch_size, profilers, values, f"{entry}.{number}") for profilers in passes]
        settings = executor_settings or {}
        runner = executor(executor_name, settings)
        directory = new_run_dir(config.output, f"sweep_{_label(config, axes)}")
        write_atomic(directory / SUITE_FILE, yaml.safe_dump({"benchmarks": entries}, sort_keys=False))
        document: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION, "status": "running", "started_at": _now(), "finished_at": None,
            "command": sys.argv, "process": runstate.this_process(), "model": config.model, "variant": config.variant,
            "sweep": axes, "batch_sizes": list(dict.fromkeys(point.batch_size for point in points)),
            "passes": passes, "entry": entry, "executor": {"name": executor_name, "settings": settings},
            "runs": [], "points": [],
        }
        return cls(directory, document, points, runner)

    @classmethod
    def open(cls, directory: Path, poll_s: float) -> Sweep:
        """The sweep recorded in ``directory/sweep.json`` (``dnn-suite status``)."""
        path = directory / SWEEP_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            points = [Point(**point) for point in document["points"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{directory}: not a sweep directory (no readable {SWEEP_FILE}: {reason(exc)})") from None
        chosen = document.get("executor") or {"name": "local", "settings": {}}
        return cls(directory, document, points, executor(chosen["name"], chosen["settings"], poll_s))

    def save(self) -> None:
        self.document["points"] = [point.to_json() for point in self.points]
        self.document["runs"] = [p.run_dir for p in self.points if p.run_dir]
        write_json_atomic(self.dir / SWEEP_FILE, self.document)

    def task(self, point: Point) -> Task:
        """The point's command line: its entry of the sweep's suite.yaml under its pass of profilers."""
        argv = ["run", "--config", str(self.dir / SUITE_FILE), point.entry or self.entry, "--output", str(self.dir),
                "--json"]
        if point.entry is None:  # recorded before points had entries of their own: the sweep's, at its size
            argv += ["--batch-size", str(point.batch_size)]
        if point.profilers:
            argv += ["--profiler", ",".join(point.profilers)]
        beyond_batch_size = set(point.settings) - {"batch_size"}
        log = (f"{point.entry}_" if beyond_batch_size else "") + f"bs{point.batch_size}"
        return Task(argv, self.dir / (log + "".join(f"_{p}" for p in point.profilers) + ".log"))

    def submit(self, points: list[Point]) -> list[Job]:
        """Hand the points to the executor; a scheduler's job ids are recorded at once."""
        jobs = self.executor.submit([self.task(point) for point in points], self.dir,
                                    f"dnn-suite_sweep_{self.document['model']}")
        for point, job in zip(points, jobs):
            point.job_id, point.log = job.job_id, _relative(job.log, self.dir)
            point.status, point.state = "pending", "PENDING"
        self.save()
        return jobs

    def job(self, point: Point) -> Job:
        assert point.job_id is not None
        return Job(point.job_id, self.dir / point.log)

    def record(self, point: Point, state: JobState) -> None:
        """What became of the point's job, from the executor's state, its run.json and the end of its log."""
        point.state = state.state
        if not state.ended:
            point.status = state.state.lower()
            return
        point.exit_code = state.exit_code
        log = self.dir / point.log
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
        point.stderr_tail = "\n".join(lines[-TAIL_LINES:])
        run = self._run_of(point)
        if state.state in SCHEDULER_ENDS:
            point.status = SCHEDULER_ENDS[state.state]
            point.reason = _scheduler_reason(state, run.document if run else None)
        elif state.exit_code is None:
            point.status, point.reason = "unknown", state.reason or f"job state {state.state}"
        else:
            point.status, point.reason = _classify(state.exit_code, run.document if run else None, point.stderr_tail)
        if run is None:
            return
        point.run_dir = _relative(run.path, self.dir)
        point.metrics = {h.key: {"label": h.label, "value": v, "unit": h.unit} for h, v in headlines(run)}
        if run.document["status"] == "running":  # killed before it could record its end
            run.document.update(status=runstate.CRASHED, error=point.reason, finished_at=_now())
            write_json_atomic(run.path / RUN_FILE, run.document)

    def _run_of(self, point: Point) -> RunDir | None:
        """The point's run directory: the newest in the sweep of its entry, batch size and profilers
        (not one of its earlier tries)."""
        mine = {"benchmark": point.entry or self.entry, "batch_size": point.batch_size, "profilers": point.profilers}
        for path in sorted(self.dir.iterdir(), reverse=True):
            if (path / RUN_FILE).is_file() and path.name not in point.earlier_runs:
                run = load_run(path)
                if all(run.config.get(key) == value for key, value in mine.items()):
                    return run
        return None

    def execute(self, echo: bool, points: list[Point] | None = None) -> int:
        """Run the points (default: all) one after another here; stop early only when the user interrupts."""
        chosen = self.points if points is None else points
        self.save()
        try:
            jobs = self.submit(chosen)
            for index, (point, job) in enumerate(zip(chosen, jobs), 1):
                if echo:
                    passes = f" [{', '.join(point.profilers)}]" if point.profilers else ""
                    print(f"dnn-suite: sweep point {index}/{len(chosen)}: "
                          f"{describe(point.settings or {'batch_size': point.batch_size})}{passes}", file=sys.stderr)
                self.record(point, self.executor.wait(job))
                self.save()
                if echo:
                    print(f"dnn-suite: -> {point.status}" + (f": {point.reason}" if point.reason else ""),
                          file=sys.stderr)
                if point.status == "interrupted":
                    break
        except KeyboardInterrupt:  # between two points: the points run so far are recorded
            self.document["error"] = signals.reason()
        return self.finish()

    def refresh(self, wait: bool) -> None:
        """Ask the executor how the submitted points stand (with ``wait``: until each has ended)."""
        open_points = [p for p in self.points if p.job_id and (p.state is None or p.state in ACTIVE)]
        states = self.executor.states([self.job(point) for point in open_points])
        for point in open_points:
            state = states[point.job_id]
            if wait and not state.ended:
                state = self.executor.wait(self.job(point))
            self.record(point, state)
        self.save()

    def finish(self) -> int:
        """The sweep's status and exit code once no point waits or runs any more; ``running`` and 0 before."""
        if self.executor.detached and any(point.state in ACTIVE for point in self.points):
            self.document["status"] = "running"
            self.save()
            return 0
        statuses = {point.status for point in self.points}
        stopped = "interrupted" in statuses or self.document.get("error")
        status = "interrupted" if stopped else "ok" if statuses == {"ok"} else "failed"
        runs = [load_run(self.dir / point.run_dir) for point in self.points if point.run_dir]
        only_batch_size = set(self.document.get("sweep") or {"batch_size": []}) == {"batch_size"}
        self.document.update(status=status, finished_at=_now(),
                             memory_fit=memory.sweep_fit(runs) if only_batch_size else None)
        self.save()
        return {"ok": 0, "failed": 1, "interrupted": signals.exit_code()}[status]


def _label(config: RunConfig, axes: dict[str, list[Any]]) -> str:
    """``tiny-small``, or the models swept: ``resnet18+resnet50``, ``resnet18+resnet50+vgg11+...``."""
    models = axes.get("model")
    if not models:
        return f"{config.model}-{config.variant}"
    return "+".join(models[:NAMED_MODELS]) + ("+..." if len(models) > NAMED_MODELS else "")


def _relative(path: Path, directory: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


def _scheduler_reason(state: JobState, document: dict[str, Any] | None) -> str:
    """The scheduler's end of a job in words, with its own reason and what the run recorded."""
    said = f"scheduler state {state.state}" + (f", {state.reason}" if state.reason else "")
    recorded = (document or {}).get("error")
    return f"{SCHEDULER_ENDS_SAID[state.state]} ({said})" + (f"; the run: {recorded}" if recorded else "")


def run_sweep(config: RunConfig, resolve_point: PointResolver, registry: Registry, *, as_json: bool,
              executor_name: str = "local", executor_settings: dict[str, Any] | None = None) -> int:
    """``dnn-suite run`` of a sweep (``resolve_point``: a point's configuration from its values):
    run it (or submit it to a scheduler), print sweep.json or the table."""
    sweep = Sweep.create(config, resolve_point, registry, executor_name, executor_settings)
    if not as_json:
        where = " as jobs of one SLURM array" if sweep.executor.detached else ""
        axes = sweep.document["sweep"].items()
        over = "; ".join(f"{key} {', '.join(map(value_text, values))}" for key, values in axes)
        print(f"dnn-suite: sweep of {_label(config, sweep.document['sweep']).replace('-', ' ', 1)} over {over}: "
              f"{len(sweep.points)} run(s) in {len(sweep.document['passes'])} pass(es) each{where} -> {sweep.dir}",
              file=sys.stderr)
    if sweep.executor.detached:
        try:
            jobs = sweep.submit(sweep.points)
        except UsageError:  # the scheduler refused the jobs (a bad partition...): no sweep that never was
            shutil.rmtree(sweep.dir)
            raise
        code = 0
        if not as_json:
            print(f"dnn-suite: submitted jobs {', '.join(job.job_id for job in jobs)}; "
                  f"watch them with: dnn-suite status {sweep.dir} [--wait]", file=sys.stderr)
    else:
        code = sweep.execute(echo=not as_json)
    _print(sweep, as_json)
    return code


def sweep_status(directory: Path, *, wait: bool, resubmit_failed: bool, poll_s: float, as_json: bool) -> int:
    """``dnn-suite status SWEEP_DIR``: the points' states from the executor and their run
    directories, the finished ones gathered into the sweep's table; ``resubmit_failed`` first runs
    the points that did not end ok again (the same executor, the same settings)."""
    sweep = Sweep.open(directory, poll_s)
    sweep.document.pop("error", None)
    detached = sweep.executor.detached
    if detached:
        sweep.refresh(wait=False)
    if resubmit_failed:
        failed = [p for p in sweep.points if p.status != "ok" and not (detached and p.state in ACTIVE)]
        for point in failed:
            point.earlier_runs += [point.run_dir] if point.run_dir else []
            point.run_dir, point.reason, point.exit_code, point.stderr_tail, point.metrics = None, None, None, "", {}
        if failed and not detached:
            code = sweep.execute(echo=not as_json, points=failed)
            _print(sweep, as_json)
            return code
        if failed:
            sweep.submit(failed)
            if not as_json:
                print(f"dnn-suite: resubmitted {len(failed)} point(s): jobs "
                      f"{', '.join(p.job_id or '' for p in failed)}", file=sys.stderr)
    if detached and wait:
        sweep.refresh(wait=True)
    code = sweep.finish()
    _print(sweep, as_json)
    return code


def _print(sweep: Sweep, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(to_json_text(sweep.document))
    else:
        print(format_sweep(sweep.document, sweep.dir))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
