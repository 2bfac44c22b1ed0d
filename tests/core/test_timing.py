"""Timing modes of the measured window (dnn_suite/run/timing.py): deferred reading on the CPU's
clock, the same logic on CUDA events (gpu tests), and what run.json records."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
import torch

from dnn_suite.errors import RunFailed
from dnn_suite.run.timing import CudaEventClock, CudaSyncClock, HostClock, PendingIteration, make_clock, settle

GPU = torch.device("cuda", 1)  # not device 0, so that a clock that drops its device is seen


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


def test_settle_keeps_the_rank_of_each_iteration():
    clock = HostClock()
    start = clock.mark()
    pending = [PendingIteration(1, 7, 0.0, start, clock.mark(), 2, 0.25, rank=3)]
    assert [(r.window, r.iteration, r.rank) for r in settle(pending, clock).records] == [(1, 7, 3)]


def test_cpu_runs_on_the_host_clock_in_both_modes():
    assert type(make_clock(torch.device("cpu"), "deferred")) is HostClock
    assert type(make_clock(torch.device("cpu"), "synchronized")) is HostClock


@pytest.mark.parametrize(("mode", "kind"), [("deferred", CudaEventClock), ("synchronized", CudaSyncClock)])
def test_cuda_gets_events_when_deferred_and_synchronized_host_marks_otherwise_on_its_own_device(mode, kind):
    clock = make_clock(GPU, mode)
    assert type(clock) is kind and clock.device == GPU


# This machine has no CUDA driver, so the few torch CUDA entry points the clocks call are replaced
# by recorders (as in tests/profilers/test_capture_seam.py); the gpu tests below run the real ones.
@dataclass
class _EventStandIn:
    """torch.cuda.Event's interface: how it was made, where it was recorded, and elapsed_time in
    milliseconds (as torch's is) between two events recorded ``at_ms`` apart."""

    enable_timing: bool = False
    at_ms: float = 0.0
    stream: object = "never recorded"

    def record(self, stream: object = None) -> None:
        self.stream = stream

    def elapsed_time(self, end: _EventStandIn) -> float:
        return end.at_ms - self.at_ms


@pytest.fixture
def synchronized_devices(monkeypatch: pytest.MonkeyPatch) -> list[torch.device | None]:
    """The devices torch.cuda.synchronize is called with, in order."""
    devices: list[torch.device | None] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: devices.append(device))
    return devices


def test_cuda_event_marks_are_timed_events_on_the_devices_current_stream(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(torch.cuda, "Event", _EventStandIn)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: ("current stream of", device))
    event = CudaEventClock(GPU).mark()
    assert event.enable_timing is True and event.stream == ("current stream of", GPU)


def test_cuda_event_times_are_milliseconds_turned_to_seconds():
    assert CudaEventClock(GPU).seconds(_EventStandIn(True, at_ms=250.0), _EventStandIn(True, at_ms=1750.0)) == 1.5


def test_cuda_clocks_wait_for_their_own_device(synchronized_devices: list[torch.device | None]):
    CudaEventClock(GPU).wait()
    CudaSyncClock(GPU).wait()
    assert synchronized_devices == [GPU, GPU]


def test_a_synchronized_cuda_mark_reads_the_host_clock_after_waiting_for_its_device(monkeypatch: pytest.MonkeyPatch):
    waits: list[tuple[torch.device | None, float]] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waits.append((device, time.perf_counter())))
    mark = CudaSyncClock(GPU).mark()
    assert [device for device, _ in waits] == [GPU] and waits[0][1] <= mark <= time.perf_counter()


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
