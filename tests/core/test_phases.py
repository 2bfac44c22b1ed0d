"""Phase ranges: named dnn_suite.<phase> in a torch.profiler recording, nothing outside one."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from dnn_suite.phases import PHASES, phase


def test_the_phases_are_recorded_by_their_names_while_a_profiler_records(monkeypatch):
    monkeypatch.setenv("KINETO_LOG_LEVEL", "6")  # no kineto log lines on a CPU run (as the torch profiler does)
    with profile(activities=[ProfilerActivity.CPU]) as recording:
        for name in PHASES:
            with phase(name):
                torch.ones(2).add_(1)
    names = {event.key for event in recording.key_averages()}
    assert {f"dnn_suite.{name}" for name in PHASES} <= names


def test_outside_a_recording_a_phase_is_the_same_no_op():
    assert phase("forward") is phase("backward")
    with phase("forward") as entered:
        assert entered is None


def test_an_unknown_phase_is_refused_with_the_known_names():
    known = "data_wait, to_device, forward, loss, backward, optimizer"
    with pytest.raises(ValueError, match=f"unknown phase 'fwd' .*{known}"):
        phase("fwd")
