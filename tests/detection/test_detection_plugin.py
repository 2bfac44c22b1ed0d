"""The detection package registers what it owns itself: with the EfficientDet plugin unable to
load, `dnn-suite data list` still offers VOC and COCO and `data check voc:DIR` still reads a VOC
folder, for torchvision's detectors."""

from __future__ import annotations

import json
import sys

import pytest


@pytest.fixture
def without_efficientdet(monkeypatch):
    """Every import of the EfficientDet plugin fails, as if it were not installed."""
    for name in [name for name in sys.modules if name.split(".")[0] == "dnn_suite_efficientdet"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dnn_suite_efficientdet", None)


def test_the_efficientdet_plugin_is_blocked(without_efficientdet, cli):
    listed = cli("list")
    assert listed.code == 0
    assert "efficientdet (dnn-suite 0.1.0): ModuleNotFoundError" in listed.out  # under "Broken plugins"
    assert "fasterrcnn" in listed.out


def test_downloads_are_offered_without_efficientdet(without_efficientdet, cli):
    result = cli("data", "list")
    assert result.code == 0
    for name in ("voc2007", "voc2012", "coco2017", "coco2017-val"):
        assert name in result.out


def test_voc_folders_are_checked_without_efficientdet(without_efficientdet, cli, own_voc):
    result = cli("data", "check", f"voc:{own_voc}")
    assert result.code == 0, result.err
    assert f"voc:{own_voc}:trainval 8 images, voc:{own_voc}:test 4 images; 3 classes: blue, green, red" in result.out


def test_a_torchvision_detector_trains_on_a_voc_folder_without_efficientdet(without_efficientdet, cli, own_voc,
                                                                            tmp_path, torch_one_thread):
    result = cli("train", "ssdlite320_mobilenet_v3_large", "--dataset", f"voc:{own_voc}", "--image-size", 96,
                 "--batch-size", 2, "--steps", 1, "--workers", 0, "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["metrics"]["evaluation"]["metric"] == "voc"
    assert (next(tmp_path.iterdir()) / "checkpoints" / "last.pt").is_file()
