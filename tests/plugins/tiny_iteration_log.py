"""A test-only in-process profiler, ``iterlog``: wraps every iteration through the
``dnn_suite_iteration`` hook and writes what it saw to ``RUN/iterlog/iterations.json``: per
iteration its window and index, the train steps the tiny model ran inside the wrapper and the
seconds the wrapper surrounded.

Loaded with ``DNN_SUITE_PLUGINS=tiny_model,tiny_iteration_log``.
"""

from __future__ import annotations

from time import perf_counter

from dnn_suite.atomic import write_json_atomic
from dnn_suite.hookspecs import hookimpl
from dnn_suite.metrics import Metric
from dnn_suite.registry import ProfilerSpec

NAME = "iterlog"


@hookimpl
def dnn_suite_register_profilers(register):
    register(ProfilerSpec(name=NAME, description="log of the iteration hook (test)", measures=("iterations",)))


@hookimpl(wrapper=True)
def dnn_suite_iteration(run, window, index):
    steps_before = run.state.get("tiny_steps", 0)
    start = perf_counter()
    result = yield
    run.state.setdefault(NAME, []).append({"window": window, "index": index, "seconds": perf_counter() - start,
                                           "steps": run.state["tiny_steps"] - steps_before})
    return result


@hookimpl
def dnn_suite_profiler_report(run):
    log = run.state.get(NAME, [])
    write_json_atomic(run.profiler_dir(NAME) / "iterations.json", log)
    return NAME, {"iterations": Metric(len(log), "iterations")}
