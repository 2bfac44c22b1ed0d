"""The batch-size memory model: fixed + per-sample x batch, per category."""

from __future__ import annotations

import pytest

from dnn_suite.memory_model import fit, fit_with_holdout


def _peaks(fixed: int, per_sample: int, sizes) -> dict[int, dict[str, float]]:
    return {b: {"parameters": fixed, "activations": per_sample * b, "total": fixed + per_sample * b} for b in sizes}


def test_fit_recovers_both_terms_per_category():
    model = fit(_peaks(1000, 64, (1, 2, 4)))
    assert model.lines["parameters"].fixed == pytest.approx(1000) and model.lines["parameters"].per_sample == pytest.approx(0, abs=1e-9)
    assert model.lines["activations"].per_sample == pytest.approx(64)
    assert model.lines["total"].fixed == pytest.approx(1000)
    assert model.predict(10) == pytest.approx(1640)
    assert model.error(10, 1600) == pytest.approx(0.025)


def test_largest_batch_that_fits():
    model = fit(_peaks(1000, 64, (1, 2)))
    assert model.largest_batch(1000 + 64 * 7) == 7
    assert model.largest_batch(1000 + 64 * 7 - 1) == 6
    assert model.largest_batch(1000) is None  # not even one sample fits
    assert fit(_peaks(1000, 0, (1, 2))).largest_batch(10**9) is None  # memory does not grow with the batch


def test_holdout_is_the_largest_batch_size():
    peaks = _peaks(500, 10, (1, 2, 8))
    peaks[8]["total"] += 40  # the held-out point is measured 40 bytes above the line
    model, held_out = fit_with_holdout(peaks)
    assert held_out == 8 and model.batch_sizes == (1, 2)
    assert model.error(8, peaks[8]["total"]) == pytest.approx(-40 / 620)
    assert fit_with_holdout(_peaks(500, 10, (1, 2)))[1] is None


def test_one_batch_size_cannot_be_fitted():
    with pytest.raises(ValueError, match="needs two batch sizes"):
        fit(_peaks(1, 1, (4,)))
