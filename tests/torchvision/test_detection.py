"""torchvision's detectors through the CLI: training on the synthetic detection data, VOC AP per
class, comparison with an EfficientDet run, and nothing downloaded (an empty TORCH_HOME stays empty)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dnn_suite.cli import main
from dnn_suite_detection.data import SHAPE_CLASSES

DETECTOR = "ssdlite320_mobilenet_v3_large"  # the lightest torchvision detector
TINY = ["--image-size", "96", "--batch-size", "2", "--device", "cpu", "--workers", "0", "--seed", "0",
        "--set", "model_options.synthetic_train=4", "--set", "model_options.synthetic_val=4"]


def _run_dir(output: Path, model: str) -> Path:
    (found,) = [d for d in output.iterdir() if model in d.name]
    return found


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """TORCH_HOME and the cache (synthetic data) in fresh folders for the module's runs."""
    root = tmp_path_factory.mktemp("detection")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(root / "torch"))
        patch.setenv("XDG_CACHE_HOME", str(root / "cache"))
        patch.setenv("OMP_NUM_THREADS", "1")
        yield root


@pytest.fixture(scope="module")
def trained(home) -> Path:
    """A detector trained 12 steps on 4 synthetic images (AdamW: fast on so few steps), then evaluated."""
    code = main(["run", DETECTOR, *TINY, "--warmup", "0", "--iterations", "12", "--evaluate",
                 "--set", "model_options.optimizer=adamw", "--output", str(home / "results")])
    assert code == 0
    return _run_dir(home / "results", DETECTOR)


@pytest.mark.slow
def test_detector_trains_with_a_falling_loss(trained):
    with (trained / "iterations.csv").open() as handle:
        header, *rows = [line.strip().split(",") for line in handle]
    losses = [float(row[header.index("loss")]) for row in rows]
    assert len(losses) == 12 and all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses
    assert {"classification", "bbox_regression"} <= set(header)  # SSD's loss terms, recorded beside the sum


@pytest.mark.slow
def test_evaluate_gives_voc_ap_per_class(trained):
    evaluation = json.loads((trained / "run.json").read_text())["evaluation"]
    assert evaluation["metric"] == "voc" and evaluation["dataset"] == "synthetic-val"
    assert list(evaluation["per_class_ap"]) == list(SHAPE_CLASSES)
    assert 0.0 <= evaluation["mAP"] <= 1.0 and evaluation["images"] == 4


@pytest.mark.slow
def test_compare_efficientdet_with_a_torchvision_detector(trained, home, capsys):
    assert main(["run", "efficientdet-d0", *TINY, "--warmup", "0", "--iterations", "2",
                 "--output", str(home / "baseline")]) == 0
    capsys.readouterr()
    assert main(["compare", str(_run_dir(home / "baseline", "efficientdet")), str(trained)]) == 0
    out = capsys.readouterr().out
    assert f"different models: efficientdet d0 vs {DETECTOR} default; their model options are not compared" in out
    assert "model_options." not in out
    throughput = next(line for line in out.splitlines() if line.startswith("throughput"))
    assert len([cell for cell in throughput.split() if cell.replace(".", "").replace(",", "").isdigit()]) == 2
    assert any(line.startswith("evaluation mAP") for line in out.splitlines())


@pytest.mark.slow
def test_nothing_is_downloaded(trained, home):
    assert not (home / "torch").exists() or not any((home / "torch").rglob("*"))


def test_hub_weights_missing_from_the_cache_is_a_usage_error(home, capsys):
    code = main(["run", DETECTOR, *TINY, "--weights", "hub", "--output", str(home / "hub")])
    err = capsys.readouterr().err
    assert code == 2 and "torch hub cache" in err and "nothing is downloaded" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_ssd300_takes_its_own_size_only(home, capsys):
    code = main(["run", "ssd300_vgg16", *TINY, "--output", str(home / "ssd")])
    err = capsys.readouterr().err
    assert code == 2 and "ssd300_vgg16 takes 300 px inputs only" in err
