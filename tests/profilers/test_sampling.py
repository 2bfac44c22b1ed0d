"""profilers/sampling.py: the background sampler's schedule, its final sample and its errors."""

from __future__ import annotations

import time

import pytest

from dnn_suite_profilers.sampling import Sampler

INTERVAL_S = 0.02
STALL_S = 10 * INTERVAL_S


def test_a_sampler_that_fell_behind_skips_the_missed_slots_instead_of_bursting():
    taken: list[float] = []

    def sample(elapsed: float) -> list[dict]:
        taken.append(time.perf_counter())
        if len(taken) == 2:
            time.sleep(STALL_S)  # one slow reading: ten slots go by
        return [{"elapsed": elapsed}]

    sampler = Sampler(sample, INTERVAL_S)
    sampler.start()
    time.sleep(STALL_S + 8 * INTERVAL_S)
    sampler.stop()
    stall_end = taken[1] + STALL_S
    # a catching-up sampler would take the ten missed samples back to back right after the stall
    assert sum(stall_end <= t < stall_end + INTERVAL_S / 2 for t in taken) <= 1
    span = sampler.stopped_at - sampler.started_at
    assert 4 <= len(sampler.rows) <= span / INTERVAL_S - 10 + 3
    assert [row["elapsed"] for row in sampler.rows] == sorted(row["elapsed"] for row in sampler.rows)


def test_stop_takes_a_last_sample_so_a_window_shorter_than_the_interval_has_both_ends():
    sampler = Sampler(lambda elapsed: [{"elapsed": elapsed}], interval_s=10.0)
    sampler.start()
    time.sleep(0.05)
    sampler.stop()
    first, last = (row["elapsed"] for row in sampler.rows)
    assert first < 0.05 <= last == pytest.approx(sampler.stopped_at - sampler.started_at, abs=0.01)


def test_a_failing_reading_ends_the_sampling_and_is_kept_for_the_report():
    def sample(elapsed: float) -> list[dict]:
        raise RuntimeError("the driver went away")

    sampler = Sampler(sample, INTERVAL_S)
    sampler.start()
    time.sleep(0.05)
    sampler.stop()
    assert str(sampler.error) == "the driver went away" and list(sampler.rows) == []


def test_a_non_positive_interval_is_refused():
    with pytest.raises(ValueError, match="positive"):
        Sampler(lambda elapsed: [], 0)
