"""The torchvision plugin is found through its entry point, lists its classifiers by family and
refuses bad input with one line and exit code 2."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from tv_tiny import TINY


def test_every_torchvision_classifier_is_registered_through_the_entry_point(cli):
    result = cli("list", "--json")
    assert result.code == 0
    models = {m["name"]: m for m in json.loads(result.out)["models"]}
    expected = set(torchvision.models.list_models(module=torchvision.models))
    assert len(expected) > 50 and expected <= set(models)
    resnet50 = models["resnet50"]
    assert (resnet50["plugin"], resnet50["distribution"], resnet50["family"]) == ("dnn_suite.torchvision", "dnn-suite", "resnet")
    assert models["vit_b_16"]["family"] == "vit" and models["inception_v3"]["options"]["image_size"] == 299


def test_list_shows_one_entry_per_family(cli):
    result = cli("list")
    models = result.out.split("Profilers")[0]
    resnet = [line for line in models.splitlines() if line.strip().startswith("resnet ")]
    assert len(resnet) == 1 and "image classifiers (torchvision)" in resnet[0]
    listed = next(line for line in models.splitlines() if "models: resnet101" in line)
    assert {"resnet18", "resnet50", "wide_resnet50_2"} <= set(listed.split())
    assert len(models.splitlines()) < 80  # not one entry per model
    assert "variants: d0*" in models  # a model without a family keeps its own entry


def _one_line_error(result, *parts: str) -> None:
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err and "Error" not in lines[0].replace("error:", "")
    for part in parts:
        assert part in lines[0]


def test_an_unknown_model_suggests_close_names_and_points_at_the_list(cli, tmp_path):
    """Close matches and where to see every name, in one line (not the 90 names)."""
    result = cli("run", "resnet5", "--output", tmp_path)
    _one_line_error(result, "unknown model 'resnet5'; did you mean 'resnet50', ", " or ",
                    "(`dnn-suite list` shows all ")
    assert "vit_b_16" not in result.err and len(result.err) < 200
    assert not any(tmp_path.iterdir())


def test_train_with_fewer_images_than_a_batch_is_refused_in_one_line(cli, tmp_path):
    result = cli("train", "resnet18", "--image-size", "32", "--batch-size", "16", "--set",
                 "model_options.synthetic_train=8", "--output", tmp_path)
    _one_line_error(result, "8 training images, fewer than one batch of 16", "lower --batch-size")


@pytest.mark.parametrize("model, args, parts", [
    ("resnet18", ["--dataset", "imagefolder:/no/such/dir"], ["imagefolder:/no/such/dir", "no such directory"]),
    ("resnet18", ["--weights", "/no/such/weights.pth"], ["/no/such/weights.pth", "no such file"]),
    ("resnet18", ["--optimizer", "adam"], ["'optimizer'", "sgd, adamw"]),
    ("vit_b_16", ["--image-size", "40"], ["image size 40", "multiple of its patch size 16"]),
    ("inception_v3", ["--image-size", "64"], ["image size 64", "at least 75"]),
])
def test_bad_input_is_one_line_exit_2(cli, tmp_path, model, args, parts):
    result = cli("run", model, *args, "--output", tmp_path)
    _one_line_error(result, *parts)
    assert not list(tmp_path.iterdir())  # refused before a run directory was made


def test_empty_image_folder_is_refused(cli, tmp_path):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    _one_line_error(cli("run", "resnet18", *TINY, "--dataset", f"imagefolder:{tmp_path / 'empty'}", "--output",
                        tmp_path / "out"), f"imagefolder:{tmp_path / 'empty'}")


def test_hub_weights_come_from_the_cache_only(cli, tmp_path, monkeypatch):
    """Not in the cache: refused (nothing downloaded). In the cache: loaded, the 1000-class head
    re-initialised for the dataset's 10 classes."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    missing = cli("run", "resnet18", *TINY, "--weights", "hub", "--output", tmp_path / "out")
    _one_line_error(missing, "not in the torch hub cache", "resnet18-f37072fd.pth")
    saved = torchvision.models.resnet18()
    with torch.no_grad():
        saved.conv1.weight.fill_(0.5)
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(saved.state_dict(), cached)
    seen = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, inputs, output: seen.append(module.weight.detach().clone())
        if isinstance(module, torch.nn.Conv2d) and not seen else None)
    try:
        loaded = cli("run", "resnet18", *TINY, "--iterations", "1", "--weights", "hub", "--output", tmp_path / "out")
    finally:
        handle.remove()
    assert loaded.code == 0, loaded.err
    assert "re-initialised (another shape): fc.bias, fc.weight" in loaded.err
    assert torch.all(seen[0] == 0.5)  # the first convolution ran with the cached weights
