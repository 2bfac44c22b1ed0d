"""``torch``: torch.profiler (kineto) on a schedule over the run's iterations: a trace per process
that HTA and TensorBoard's profiler plugin read, and the top operators.

The schedule counts the run's iterations from its first warmup iteration (each one, seen
through the core's ``dnn_suite_iteration`` hook, is one ``prof.step()``): ``wait`` iterations
untouched, ``warmup`` traced and discarded (kineto's first traced steps are slow: CUPTI starts
up), then ``active`` recorded. By default ``wait`` is the run's warmup minus the profiler's
(``--warmup 3``, ``warmup: 1``: wait 2), so recording starts with the first measured iteration,
and ``active`` runs to the end of the last measured window; with fewer warmup iterations than
the profiler's ``warmup``, the first measured iterations serve as its warmup and are not in
the trace. Recording stops after the last measured window at the latest. Profiling slows the
training down, so the run's throughput is lower than without it.

In the trace each recorded iteration is one ``ProfilerStep#N`` range (``user_annotation``; N
counts from 0 at the first warmup iteration, so with ``--warmup 3`` the first measured
iteration is ``ProfilerStep#3``), exactly around the iteration: the fetch of its batch and its
train step, with the phases of :mod:`dnn_suite.phases` (``dnn_suite.data_wait``,
``dnn_suite.forward``, ...) nested inside. Each measured window is a ``dnn_suite.window``
range around its iterations (when the recording spans it whole). CPU activity is recorded and,
on a CUDA run, CUDA kernels.

Artefacts in ``RUN/torch/``: ``traces/rank<R>.pt.trace.json.gz``, one gzipped kineto trace per
process (every rank of a multi-process run writes its own; a one-process run's trace says
``distributedInfo: {"rank": 0, ...}`` as HTA requires), alone in their folder so that
``TraceAnalysis(trace_dir="RUN/torch/traces")`` and ``tensorboard --logdir RUN/torch`` read
them as they are (open one in Perfetto too); ``top_ops.txt`` (torch's own table, the phases and
steps among the rows) and ``top_ops.json`` (the operators only, as data), from this process or
rank 0. Metrics: ``iterations`` (recorded), the totals and, for the ``top_ops`` operators with
the most self time (CUDA time on a CUDA run, else CPU), ``op.<name>.calls``,
``op.<name>.self_cpu_time``, ``op.<name>.cpu_total`` and on CUDA ``op.<name>.cuda_time``
(microseconds), all over the recorded iterations.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnn_suite.atomic import write_atomic, write_json_atomic
from dnn_suite.context import RunContext
from dnn_suite.errors import RunFailed, UsageError, one_line
from dnn_suite.hookspecs import hookimpl
from dnn_suite.metrics import Metric
from dnn_suite.options import Option
from dnn_suite.registry import ProfilerSpec
from dnn_suite.value_types import Integer, Nullable
from dnn_suite_profilers.analyzers import InvalidProfileFile, analyze_kineto

if TYPE_CHECKING:
    from torch.profiler import profile

NAME = "torch"
WINDOW_RECORD = "dnn_suite.window"
STEP_RECORD = "ProfilerStep#"  # torch.profiler's own name for a step, which HTA and TensorBoard look for
TRACES = "traces"
KINETO_LOG_LEVEL = "KINETO_LOG_LEVEL"
KINETO_SILENT = "6"  # above kineto's highest level (USDT = 5): no log lines at all
TO_THE_END = sys.maxsize  # `active` of a schedule that records until the profiler stops


@hookimpl
def dnn_suite_register_profilers(register):
    register(ProfilerSpec(
        name=NAME,
        description="torch.profiler on a schedule: a kineto trace per process (HTA, TensorBoard) and top operators",
        measures=("operator self/total CPU time", "operator CUDA time", "calls", "kineto trace per iteration"),
        options=(
            Option("wait", None, "iterations, from the run's first warmup iteration, before the profiler's warmup "
                   "(default: the run's warmup minus `warmup`, so that recording starts with the measured ones)",
                   Nullable(Integer(minimum=0))),
            Option("warmup", 1, "iterations traced and discarded before recording (kineto's first traced steps are "
                   "slow)", Integer(minimum=0)),
            Option("active", None, "iterations recorded (default: all, to the end of the last measured window)",
                   Nullable(Integer(minimum=1))),
            Option("record_shapes", False, "record input shapes of the operators"),
            Option("with_stack", False, "record Python stacks (larger trace, more overhead)"),
            Option("profile_memory", False, "record tensor memory allocations"),
            Option("row_limit", 25, "rows of top_ops.txt / top_ops.json", Integer(minimum=1)),
            Option("top_ops", 5, "operators listed in the metrics", Integer(minimum=1)),
        ),
    ))


def _on_cuda(run: RunContext) -> bool:
    return run.device.type == "cuda"


def _schedule(run: RunContext) -> tuple[int, int, int | None]:
    """``(wait, warmup, active)`` in iterations from the run's first warmup iteration; active None: to the end."""
    options = run.profiler_options(NAME)
    warmup = options["warmup"]
    wait = options["wait"] if options["wait"] is not None else max(run.config.warmup - warmup, 0)
    return wait, warmup, options["active"]


@hookimpl
def dnn_suite_profiler_preflight(run: RunContext):
    wait, warmup, _ = _schedule(run)
    if run.config.iterations is not None:
        total = run.config.warmup + run.config.iterations * run.config.repeat
        if wait + warmup >= total:
            raise UsageError(f"profiler torch: its schedule waits {wait} and warms up {warmup} iterations, but the "
                             f"run has only {total}, so nothing would be recorded; lower wait or warmup")


@dataclass
class _State:
    """One process's profiler during a run."""

    profiler: profile
    running: bool = True
    owed: bool = False  # an iteration ended: the schedule's step() for it is still to come (see _advance)
    recorded: int = 0  # iterations recorded (ProfilerStep#N ranges in the trace)
    trace: Path | None = None  # written once the profiler stopped
    error: str | None = None  # why the trace could not be written


def _start(run: RunContext) -> profile:
    """Start the profiler on its schedule. Without CUDA, kineto (torch's profiling library) would
    still print its trace markers and ``ERROR ... gpuGetDeviceCount failed`` on a CUDA build of
    torch: it is silenced before its first use, where it reads its log level. On a CUDA run its
    messages can matter (CUPTI permissions) and are kept; an explicit KINETO_LOG_LEVEL always wins."""
    # torch imported here and in the hooks below, not at the top: registration needs no torch,
    # so `dnn-suite list` stays light.
    import torch.distributed as dist
    from torch.profiler import ProfilerActivity, profile, schedule

    options = run.profiler_options(NAME)
    if not _on_cuda(run):
        os.environ.setdefault(KINETO_LOG_LEVEL, KINETO_SILENT)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if _on_cuda(run) else [])
    wait, warmup, active = _schedule(run)
    profiler = profile(activities=activities, schedule=schedule(wait=wait, warmup=warmup, active=active or TO_THE_END,
                                                                repeat=1),
                       record_shapes=options["record_shapes"], with_stack=options["with_stack"],
                       profile_memory=options["profile_memory"])
    # torch's own ProfilerStep#N ranges run from one step() to the next, so the last one would
    # straddle the end of the loop: each iteration gets its range in dnn_suite_iteration instead.
    profiler.record_steps = False
    if not (dist.is_available() and dist.is_initialized()):  # else torch writes it, with the process group
        profiler.preset_metadata_json("distributedInfo", json.dumps({"rank": run.rank, "world_size": run.world_size}))
    profiler.start()
    return profiler


def _trace_path(run: RunContext, rank: int) -> Path:
    return run.profiler_dir(NAME) / TRACES / f"rank{rank}.pt.trace.json.gz"


def _write_trace(profiler: profile, path: Path) -> None:
    """Export the trace gzipped to ``path``, atomically: readers see the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_name(f".{path.name}.{os.getpid()}.json.tmp")
    packed = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        profiler.export_chrome_trace(str(raw))
        with open(raw, "rb") as source, open(packed, "wb") as sink:
            with gzip.GzipFile(path.name.removesuffix(".gz"), "wb", compresslevel=6, fileobj=sink) as compressed:
                shutil.copyfileobj(source, compressed, 1 << 20)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(packed, path)
    finally:
        raw.unlink(missing_ok=True)
        packed.unlink(missing_ok=True)


def _stop(run: RunContext, state: _State) -> None:
    """Stop recording and write this process's trace (every rank writes its own). A failure to
    write is kept for the report (rank 0) and said on stderr (other ranks, which do not report)."""
    if not state.running:
        return
    state.running = False
    state.profiler.stop()
    if not state.recorded:
        return
    path = _trace_path(run, run.rank)
    try:
        _write_trace(state.profiler, path)
    except (OSError, RuntimeError) as exc:
        state.error = f"trace {path.name} not written: {one_line(exc)}"
        if run.rank != 0:
            print(f"dnn-suite: profiler torch, rank {run.rank}: {state.error}", file=sys.stderr)
        return
    state.trace = path


@hookimpl(wrapper=True)
def dnn_suite_training_loop(run: RunContext):
    state = run.state[NAME] = _State(_start(run))
    try:
        return (yield)
    finally:
        _stop(run, state)


def _advance(state: _State) -> None:
    """The ``prof.step()`` owed for the last iteration, made as late as possible: at the start of
    the next iteration or measured window of ours. The schedule starts recording there, so that
    what runs in between stays out of the trace: another profiler's own work before its window
    (the memory profiler's tracked iterations, its window wrapper being outermost)."""
    if state.owed:
        state.owed = False
        state.profiler.step()


@hookimpl(wrapper=True)
def dnn_suite_measured_window(run: RunContext, window: int):
    state: _State | None = run.state.get(NAME)
    if state is not None and state.running:
        _advance(state)  # before the window's range opens, so that a recording from its first iteration has it
    from torch.profiler import record_function

    with record_function(WINDOW_RECORD):
        result = yield
    if state is not None and window >= run.config.repeat - 1:
        _stop(run, state)  # after the last window, not the rest of the loop
    return result


@hookimpl(wrapper=True)
def dnn_suite_iteration(run: RunContext, window: int, index: int):
    """Each iteration is one step of the schedule; while recording, a ``ProfilerStep#N`` range."""
    state: _State | None = run.state.get(NAME)
    if state is None or not state.running:
        return (yield)
    _advance(state)
    from torch.profiler import ProfilerAction, record_function

    profiler = state.profiler
    if profiler.current_action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
        state.recorded += 1
        with record_function(f"{STEP_RECORD}{profiler.step_num}"):
            result = yield
    else:
        result = yield
    state.owed = True
    return result


def _annotation(name: str) -> bool:
    """A range of ours (window, phase, step: ``key_averages`` names the steps ``ProfilerStep*``), not an operator."""
    from dnn_suite.phases import PREFIX  # dnn_suite.phases imports torch

    return name.startswith((PREFIX, STEP_RECORD.rstrip("#")))


def _row(event: Any, cuda: bool) -> dict[str, Any]:
    row = {
        "name": event.key,
        "calls": int(event.count),
        "self_cpu_time_us": float(event.self_cpu_time_total),
        "cpu_total_us": float(event.cpu_time_total),
    }
    if cuda:
        row["self_cuda_time_us"] = float(event.self_device_time_total)
        row["cuda_total_us"] = float(event.device_time_total)
    return row


def _check_traces(run: RunContext, state: _State) -> None:
    """Every rank's trace is there: the ranks wrote them before they gathered their results, so
    before rank 0 reports."""
    if state.error:
        raise RunFailed(state.error)
    missing = [rank for rank in range(run.world_size) if not _trace_path(run, rank).is_file()]
    if missing:
        raise RunFailed(f"no trace from rank {', '.join(map(str, missing))} (see its output on stderr)")


def _trace_analysis(folder: Path) -> dict[str, Metric]:
    """Where the time went, from the traces of every rank (the analysis of ``dnn-suite analyze``):
    ``analysis.json`` beside them, its figures as ``trace.*`` metrics, the findings named."""
    try:
        analysis = analyze_kineto(folder / TRACES)
    except InvalidProfileFile as error:
        raise RunFailed(f"the trace this run wrote cannot be analysed: {one_line(error)}") from error
    write_json_atomic(folder / "analysis.json", analysis.to_json())
    findings = [row["finding"] for row in analysis.tables.get("diagnosis", [])]
    metrics = {f"trace.{key}": metric for key, metric in analysis.metrics.items()}
    metrics["trace.findings"] = Metric(len(findings), "findings", "diagnosis of the trace, most step time at stake "
                                       "first: " + (", ".join(findings) or "none") + " (torch/analysis.json)")
    return metrics


@hookimpl
def dnn_suite_profiler_report(run: RunContext):
    state: _State | None = run.state.get(NAME)
    if state is None:
        return NAME, {}
    _stop(run, state)
    if not state.recorded:
        wait, warmup, _ = _schedule(run)
        raise RunFailed(f"no iteration was recorded: the schedule waits {wait} and warms up {warmup} iterations "
                        "first; run more iterations or lower wait or warmup")
    _check_traces(run, state)
    options = run.profiler_options(NAME)
    cuda = _on_cuda(run)
    folder = run.profiler_dir(NAME)
    events = state.profiler.key_averages()
    sort_by = "self_device_time_total" if cuda else "self_cpu_time_total"
    write_atomic(folder / "top_ops.txt", events.table(sort_by=sort_by, row_limit=options["row_limit"]) + "\n")
    rows = sorted((_row(e, cuda) for e in events if not _annotation(e.key)),
                  key=lambda r: r["self_cuda_time_us" if cuda else "self_cpu_time_us"], reverse=True)
    write_json_atomic(folder / "top_ops.json", rows[: options["row_limit"]])

    metrics = {
        "iterations": Metric(state.recorded, "iterations", "iterations recorded (ProfilerStep#N in the trace)"),
        "self_cpu_time_total": Metric(sum(r["self_cpu_time_us"] for r in rows), "us",
                                      "self CPU time of all operators in the recorded iterations"),
        "operators": Metric(len(rows), "operators", "distinct operators recorded"),
        "calls": Metric(sum(r["calls"] for r in rows), "calls", "operator calls recorded"),
    }
    if cuda:
        metrics["self_cuda_time_total"] = Metric(sum(r["self_cuda_time_us"] for r in rows), "us",
                                                 "self CUDA time of all operators in the recorded iterations")
    metrics.update(_trace_analysis(folder))
    for rank, row in enumerate(rows[: options["top_ops"]], 1):
        key = f"op.{row['name']}"
        metrics[f"{key}.self_cpu_time"] = Metric(row["self_cpu_time_us"], "us", f"rank {rank} by self time")
        metrics[f"{key}.cpu_total"] = Metric(row["cpu_total_us"], "us", "CPU time including children")
        metrics[f"{key}.calls"] = Metric(row["calls"], "calls")
        if cuda:
            metrics[f"{key}.cuda_time"] = Metric(row["self_cuda_time_us"], "us", "self CUDA time")
    return NAME, metrics
