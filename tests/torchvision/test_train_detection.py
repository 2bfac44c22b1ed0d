"""`dnn-suite train` of a torchvision detector, resumed exactly, and `dnn-suite eval --checkpoint` of it."""

from __future__ import annotations

import json

import pytest
import torch

DETECTOR = "ssdlite320_mobilenet_v3_large"  # the lightest torchvision detector
SMALL = ["--image-size", "96", "--batch-size", "2", "--workers", "0", "--set", "model_options.synthetic_train=4",
         "--set", "model_options.synthetic_val=4"]


def test_a_detector_trains_resumes_exactly_and_its_checkpoint_evaluates(cli, tmp_path, monkeypatch, torch_one_thread):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the synthetic data
    trained = cli("train", DETECTOR, *SMALL, "--steps", "4", "--checkpoint-every", "2", "--output",
                  tmp_path / "runs", "--json")
    assert trained.code == 0, trained.err
    (run_dir,) = (tmp_path / "runs").iterdir()
    copied = tmp_path / "copy" / "checkpoints" / "step_2.pt"
    copied.parent.mkdir(parents=True)
    copied.write_bytes((run_dir / "checkpoints" / "step_2.pt").read_bytes())
    resumed = cli("train", DETECTOR, *SMALL, "--steps", "4", "--resume", copied, "--json")
    evaluated = cli("eval", DETECTOR, *SMALL, "--checkpoint", run_dir / "checkpoints" / "last.pt",
                    "--output", tmp_path / "runs", "--json")
    assert resumed.code == 0 and evaluated.code == 0, resumed.err + evaluated.err
    straight, again = (torch.load(d / "checkpoints" / "step_4.pt", weights_only=True)["model"]
                       for d in (run_dir, tmp_path / "copy"))
    assert all(torch.equal(straight[name], again[name]) for name in straight)
    final = json.loads(trained.out)["metrics"]["evaluation"]  # of the last step's weights, as last.pt holds them
    metrics = json.loads(evaluated.out)["metrics"]
    assert final["metric"] == metrics["metric"] == "voc" and 0 <= metrics["mAP"] <= 1
    assert metrics["mAP"] == pytest.approx(final["mAP"])
    assert json.loads(resumed.out)["metrics"]["evaluation"]["mAP"] == pytest.approx(final["mAP"])
