"""The child's capture calls (cudaProfilerStart/Stop, the NVTX window range) go through one
seam, ``dnn_suite_profilers.capture``, which records them for the fake tools; the fakes
(tests/profilers/fakes/bin/fakelib.py) replay the record the way nsys, nvprof and ncu see it.
Here: what the child records around its windows, and how the fakes read a record that lacks
a call or has one on the wrong thread. The end-to-end runs under the fakes are in
test_plugin_launchers.py."""

from __future__ import annotations

import json
import sys
import threading

import pytest
import torch

from dnn_suite.settings.resolve import resolve
from dnn_suite.plugins import discover
from dnn_suite.run.runner import Run
from dnn_suite_profilers import capture
from dnn_suite_profilers.launching import capture_loop, capture_window
from fakes.harness import FAKE_BIN

sys.path.insert(0, str(FAKE_BIN))
import fakelib  # noqa: E402  (the fake tools' shared module, from fakes/bin)

WINDOW = "dnn_suite.window"


def _drive(generator, result=None):
    """Run a hookwrapper body: up to its yield, then resume it with ``result``."""
    next(generator)
    with pytest.raises(StopIteration) as stop:
        generator.send(result)
    return stop.value.value


@pytest.fixture
def call_log(tmp_path, monkeypatch):
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv(capture.CALL_LOG_ENV, str(path))
    return lambda: [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_child_opens_one_capture_and_marks_each_window_on_its_thread(tiny_plugin, tmp_path, call_log):
    config = resolve("tiny", discover(), flags={"profilers": ["nsys"], "repeat": 2, "device": "cpu",
                                                "output": str(tmp_path)})
    run = Run(config, discover()).context
    run.role = "child"
    loop = capture_loop(run, "nsys")
    next(loop)
    assert _drive(capture_window(run, "nsys", 0), "w0") == "w0"
    assert _drive(capture_window(run, "nsys", 1), "w1") == "w1"
    with pytest.raises(StopIteration):
        loop.send(None)
    calls = call_log()
    assert [(c["call"], c["name"]) for c in calls] == [
        ("profiler_start", None), ("range_push", WINDOW), ("range_pop", None),
        ("range_push", WINDOW), ("range_pop", None), ("profiler_stop", None)]
    main = threading.main_thread().native_id
    assert {c["thread"] for c in calls} == {threading.get_native_id()} and {c["main_thread"] for c in calls} == {main}


def test_only_the_launchers_child_captures(tiny_plugin, tmp_path, call_log):
    config = resolve("tiny", discover(), flags={"profilers": ["nsys"], "device": "cpu", "output": str(tmp_path)})
    run = Run(config, discover()).context  # the user's process: the tool captures the child, not it
    _drive(capture_window(run, "nsys", 0))
    run.role = "child"
    _drive(capture_window(run, "nvprof", 0))  # another launcher's window hook
    assert call_log() == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the path of a machine without CUDA")
def test_the_seam_records_but_skips_cuda_calls_off_cuda(call_log):
    cpu = torch.device("cpu")
    with pytest.raises((RuntimeError, AssertionError)):
        torch.cuda.synchronize()  # what the seam must not call here
    capture.profiler_start(cpu)
    capture.range_push(WINDOW, cpu)
    capture.range_pop(cpu)
    capture.profiler_stop(cpu)
    assert [c["call"] for c in call_log()] == ["profiler_start", "range_push", "range_pop", "profiler_stop"]


def test_on_cuda_the_seam_makes_the_profiler_and_nvtx_calls_in_order(call_log, monkeypatch):
    """This machine has no CUDA driver, so torch's CUDA entry points are replaced by recorders:
    the calls nsys, nvprof and ncu act on (cudaProfilerStart/Stop, NVTX push/pop) must be made,
    and the queue drained before the capture opens and before it closes."""
    made: list[tuple] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: made.append(("synchronize", device)))
    monkeypatch.setattr(torch.cuda.profiler, "start", lambda: made.append(("cudaProfilerStart",)))
    monkeypatch.setattr(torch.cuda.profiler, "stop", lambda: made.append(("cudaProfilerStop",)))
    monkeypatch.setattr(torch.cuda.nvtx, "range_push", lambda name: made.append(("nvtxRangePush", name)))
    monkeypatch.setattr(torch.cuda.nvtx, "range_pop", lambda: made.append(("nvtxRangePop",)))
    gpu = torch.device("cuda", 1)
    capture.profiler_start(gpu)
    capture.range_push(WINDOW, gpu)
    capture.range_pop(gpu)
    capture.profiler_stop(gpu)
    assert made == [("synchronize", gpu), ("cudaProfilerStart",), ("nvtxRangePush", WINDOW), ("nvtxRangePop",),
                    ("synchronize", gpu), ("cudaProfilerStop",)]
    assert [c["call"] for c in call_log()] == ["profiler_start", "range_push", "range_pop", "profiler_stop"]


def _calls(*steps: tuple[str, int]) -> list[dict]:
    names = {"range_push": WINDOW}
    return [{"call": call, "name": names.get(call), "thread": thread, "main_thread": 1} for call, thread in steps]


FULL = [("profiler_start", 1), ("range_push", 1), ("range_pop", 1), ("range_push", 1), ("range_pop", 1),
        ("profiler_stop", 1)]


@pytest.mark.parametrize("steps, expected", [
    (FULL, [(True, 1), (True, 1)]),
    ([s for s in FULL if s[0] != "profiler_start"], [(False, 1), (False, 1)]),  # never captured
    ([s for s in FULL if s[0] not in ("range_push", "range_pop")], [(True, None), (True, None)]),  # no ranges
    ([("profiler_start", 1), ("range_push", 1), ("range_pop", 2), ("range_push", 1), ("range_pop", 1),
      ("profiler_stop", 1)], [(True, None), (True, 1)]),  # popped on another thread: the first never closes
    ([("profiler_start", 1), ("range_push", 1), ("range_pop", 1), ("profiler_stop", 1), ("range_push", 1),
      ("range_pop", 1)], [(True, 1), (False, 1)]),  # the capture closed after the first window
    ([("profiler_start", 1), ("range_push", 7), ("range_pop", 7)], [(True, 7)]),  # a range on another thread
])
def test_the_fakes_see_only_the_calls_made(steps, expected):
    windows = fakelib.windows_seen(_calls(*steps), [3] * len(expected))
    assert [(w.captured, w.range_thread) for w in windows] == expected
    assert all(w.iterations == 3 and w.main_thread == 1 for w in windows)
