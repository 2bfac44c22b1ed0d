"""The side-by-side benchmarks compare like with like: every row names both sides' precision and
memory format, the headline puts each side's best mode against the other's, the same-format rows
really use one format on both sides, and the VOC row's peer computes the same AP as ours."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import evaluation  # noqa: E402
import sides  # noqa: E402
import train_step  # noqa: E402


def test_every_mode_states_precision_memory_format_and_execution() -> None:
    described = {name: mode.describe() for name, mode in sides.MODES.items()}
    assert described["nchw"] == {"precision": "fp32", "memory_format": "NCHW", "execution": "eager"}
    assert described["eager"] == {"precision": "fp32", "memory_format": "channels_last", "execution": "eager"}
    assert described["bf16"]["precision"] == "bf16 autocast"
    assert described["compile"]["execution"] == "torch.compile"
    assert len({mode.label() for mode in sides.MODES.values()}) == len(sides.MODES)


def test_training_rows_put_best_against_best_then_same_format_controls() -> None:
    rows = train_step.rows(as_it_comes=True)
    assert rows[0] == ("best mode vs best mode", sides.BEST["ours"], sides.BEST["effdet"])
    assert len({(ours, theirs) for _, ours, theirs in rows}) == len(rows)  # no pair measured twice
    formats = {(sides.MODES[ours].channels_last, sides.MODES[theirs].channels_last) for _, ours, theirs in rows}
    assert (False, False) in formats and (True, True) in formats  # NCHW vs NCHW, channels_last vs channels_last
    for label, ours, theirs in rows:
        if label.startswith("both"):
            assert sides.MODES[ours] == sides.MODES[theirs], label
    assert ("as each library comes", sides.AS_IT_COMES["ours"], "nchw") in rows
    assert len(train_step.rows(as_it_comes=False)) == len(rows) - 1


def test_the_modes_reach_the_models() -> None:
    """A side built in channels_last really holds channels_last weights, and NCHW ones contiguous ones."""
    conv = lambda model: next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))  # noqa: E731
    for name in ("eager", "nchw"):
        mode = sides.MODES[name]
        model = sides.ours_model("d0", 20, 256, channels_last=mode.channels_last)
        weight = conv(model).weight
        assert weight.is_contiguous(memory_format=torch.channels_last) == mode.channels_last
        assert weight.is_contiguous() != mode.channels_last


def test_voc_peer_computes_the_same_ap_as_ours() -> None:
    pytest.importorskip("effdet")
    from dnn_suite_detection.evaluate import evaluate_voc

    ground_truths, detections = evaluation.make_data(60, seed=3)
    ours = evaluate_voc(detections, ground_truths, [str(c) for c in range(evaluation.NUM_CLASSES)])
    theirs = evaluation.effdet_voc(ground_truths, detections)
    assert 0.2 < ours.mean_ap < 0.9
    assert theirs["mAP"] == pytest.approx(ours.mean_ap, abs=1e-9)
    assert theirs["per_class"] == pytest.approx([ours.per_class_ap[str(c)] for c in range(20)], abs=1e-9, nan_ok=True)


@pytest.mark.slow
def test_op_profile_tiny_run_lists_both_sides_operators(tmp_path: Path) -> None:
    pytest.importorskip("effdet")
    figures = tmp_path / "ops.json"
    result = subprocess.run([sys.executable, str(BENCHMARKS / "op_profile.py"), "--image-size", "128",
                             "--batch-size", "2", "--rounds", "1", "--warmup", "0", "--threads", "1",
                             "--json", str(figures)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    data = json.loads(figures.read_text())
    assert data["settings"]["memory_format"] == "channels_last"
    rows = {row["operator"]: row for row in data["operators"]}
    backward = rows["aten::convolution_backward"]
    assert backward["ours_calls"] == backward["effdet_calls"] > 0  # the same network, conv for conv
    assert data["totals_ms"]["ours"] > 0 and data["totals_ms"]["effdet"] > 0
    assert data["totals_ms"]["ours"] == pytest.approx(sum(r["ours_ms"] for r in data["operators"]))
