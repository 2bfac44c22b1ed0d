"""Timing modes of the measured window (dnn_suite/timing.py): deferred reading on the CPU's
clock, the same logic on CUDA events (gpu tests), and what run.json records."""

from __future__ import annotations

import json
import time

import pytest
import torch

from dnn_suite.errors import RunFailed
from dnn_suite.timing import CudaEventClock, HostClock, PendingIteration, make_clock, settle


def _pending(clock, losses, sleep_s=0.0):
    items = []
    for index, loss in enumerate(losses):
        start = clock.mark()
        if sleep_s:
            time.sleep(sleep_s)
        items.append(PendingIteration(0, index, 0.001, start, clock.mark(), 4, torch.tensor(loss),
                                      {"part": torch.tensor(loss / 2)}))
    return items


def test_settle_reads_step_times_and_losses_at_the_end_and_empties_the_queue():
    clock = HostClock()
    pending = _pending(clock, [3.0, 2.0, 1.0], sleep_s=0.02)
    last_end = pending[-1].step_end
    settled = settle(pending, clock)
    assert pending == []
    assert [r.loss for r in settled.records] == [3.0, 2.0, 1.0]
    assert [r.components["part"] for r in settled.records] == [1.5, 1.0, 0.5]
    assert all(0.015 < r.step_s < 0.5 for r in settled.records)
    assert settled.last_end == last_end


def test_settle_names_the_first_non_finite_loss_and_keeps_those_before_it():
    clock = HostClock()
    pending = _pending(clock, [1.0, 0.5, float("nan"), float("inf")])
    with pytest.raises(RunFailed, match="loss is nan at iteration 2 of window 0") as raised:
        settle(pending, clock)
    assert [r.iteration for r in raised.value.settled.records] == [0, 1]


def test_settle_of_nothing_reads_nothing():
    assert settle([], HostClock()).records == [] and settle([], HostClock()).last_end is None


def test_cpu_runs_on_the_host_clock_in_both_modes():
    assert isinstance(make_clock(torch.device("cpu"), "deferred"), HostClock)
    assert isinstance(make_clock(torch.device("cpu"), "synchronized"), HostClock)
    assert isinstance(make_clock(torch.device("cuda"), "deferred"), CudaEventClock)


@pytest.mark.parametrize("mode", ["deferred", "synchronized"])
def test_run_records_the_timing_mode_and_the_same_figures(tiny_plugin, cli, tmp_path, mode):
    result = cli("run", "tiny", "--output", tmp_path, "--warmup", "1", "--iterations", "4", "--timing", mode,
                 "--set", "model_options.data_delay_s=0.01", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["timing"] == {"mode": mode, "step_clock": "perf_counter"}
    assert document["config"]["timing"] == mode
    metrics = document["metrics"]
    assert metrics["iterations"] == 4 and metrics["loss"]["first"] > 0
    # the window's wall time runs from its start to the end of the last step: at least its steps and waits
    busy = (metrics["step_time_s"]["mean"] + metrics["data_wait_s"]["mean"]) * 4
    assert busy <= metrics["window_time_s"] <= busy + 0.5


def test_synchronized_mode_stops_at_the_first_nan_too(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--output", tmp_path, "--warmup", "1", "--iterations", "5", "--timing",
                 "synchronized", "--set", "model_options.nan_at=3", "--json")
    document = json.loads(result.out)
    assert result.code == 1 and "loss is nan at iteration 2 of window 0" in document["error"]
    assert document["metrics"]["iterations"] == 2


def test_a_nan_in_the_warmup_is_named_as_such(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--output", tmp_path, "--warmup", "3", "--iterations", "2",
                 "--set", "model_options.nan_at=1", "--json")
    document = json.loads(result.out)
    assert result.code == 1 and "loss is nan at iteration 1 of warmup" in document["error"]


def test_an_unknown_timing_mode_is_a_usage_error(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--output", tmp_path, "--set", "timing=lazy")
    assert result.code == 2 and "timing" in result.err and "deferred or synchronized" in result.err


def _sleep_cycles(device: torch.device, seconds: float) -> int:
    """GPU clock cycles of ``torch.cuda._sleep`` that last about ``seconds`` (measured here)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    torch.cuda._sleep(10_000_000)
    end.record()
    torch.cuda.synchronize(device)
    return int(10_000_000 * seconds / (start.elapsed_time(end) / 1e3))


@pytest.mark.gpu
def test_cuda_events_let_the_host_run_ahead_of_the_gpu():
    """Queue 5 iterations of ~20 ms of GPU work each: with event marks the host is done queueing
    long before the GPU is; the settled step times are the GPU's."""
    device = torch.device("cuda")
    clock = make_clock(device, "deferred")
    cycles = _sleep_cycles(device, 0.02)
    clock.wait()
    origin = clock.mark()
    queued_at = time.perf_counter()
    pending = []
    for index in range(5):
        start = clock.mark()
        torch.cuda._sleep(cycles)
        pending.append(PendingIteration(0, index, 0.0, start, clock.mark(), 1, torch.ones((), device=device)))
    host_queue_s = time.perf_counter() - queued_at
    settled = settle(pending, clock)
    wall = clock.seconds(origin, settled.last_end)
    assert host_queue_s < wall / 5
    assert all(0.01 < r.step_s < 0.1 for r in settled.records)
    assert sum(r.step_s for r in settled.records) <= wall * 1.01


@pytest.mark.gpu
def test_synchronized_cuda_marks_wait_for_the_gpu():
    device = torch.device("cuda")
    clock = make_clock(device, "synchronized")
    cycles = _sleep_cycles(device, 0.02)
    start = clock.mark()
    torch.cuda._sleep(cycles)
    assert clock.seconds(start, clock.mark()) > 0.01
