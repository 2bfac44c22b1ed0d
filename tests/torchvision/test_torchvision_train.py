"""`dnn-suite train` and `dnn-suite eval --checkpoint` for the torchvision models: checkpoints,
schedule, exact resume, SIGTERM, evaluating a checkpoint.

resnet18 at 32 px on 8 synthetic images (2 steps of batch 4 per epoch), torch on one thread
(on a small shared CPU more threads only compete with other processes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dnn_suite_torchvision.checkpoint import CHECKPOINTS

MODEL = "resnet18"
SMALL = ["--image-size", "32", "--batch-size", "4", "--workers", "0", "--set", "model_options.synthetic_train=8",
         "--set", "model_options.synthetic_val=8", "--set", "model_options.ema_decay=0.5"]
BASE_LR = 0.1 * 4 / 256  # SGD's 0.1 per 256 images

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 4-step run (2 epochs), checkpoints and evaluations every 2 steps."""
    from dnn_suite.cli import main

    output = tmp_path_factory.mktemp("straight")
    code = main(["train", MODEL, *SMALL, "--steps", "4", "--checkpoint-every", "2", "--eval-every", "2",
                 "--output", str(output)])
    assert code == 0
    (run_dir,) = output.iterdir()
    return run_dir, json.loads((run_dir / "train.json").read_text())


def test_checkpoints_schedule_and_evaluations(straight):
    run_dir, record = straight
    directory = run_dir / "checkpoints"
    assert sorted(p.name for p in directory.iterdir()) == ["last.pt", "step_2.pt", "step_4.pt"]
    mid, last = load(directory / "step_2.pt"), load(directory / "last.pt")
    assert mid["format"] == CHECKPOINTS.name and (mid["step"], mid["epoch"], mid["position"]) == (2, 1, 0)
    assert mid["config"] == {"model": MODEL, "image_size": 32, "dataset": "synthetic",
                             "class_names": [f"class{i}" for i in range(10)], "train_images": 8, "batch_size": 4,
                             "world_size": 1, "seed": 0}
    assert mid["ema"].keys() == mid["model"].keys() and int(mid["ema_n_averaged"]) == 2
    # one epoch of warmup (2 steps) from 0.1 x lr, then cosine to 0 at step 4
    assert mid["optimizer"]["param_groups"][0]["lr"] == pytest.approx(BASE_LR)
    assert last["step"] == 4 and last["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
    metrics = record["metrics"]
    assert record["status"] == "ok" and metrics["checkpoint"] == str(directory / "last.pt")
    assert [e["step"] for e in metrics["evaluations"]] == [2, 4] and metrics["evaluation"]["ema"] is True
    assert 0 <= metrics["evaluation"]["top1"] <= metrics["evaluation"]["top5"] <= 1


def test_resume_matches_an_uninterrupted_run(straight, cli, tmp_path):
    """From the step-2 checkpoint (a copy, without its run's record): the same step-4 state, bit for bit."""
    run_dir, record = straight
    (tmp_path / "checkpoints").mkdir()
    copied = tmp_path / "checkpoints" / "step_2.pt"
    copied.write_bytes((run_dir / "checkpoints" / "step_2.pt").read_bytes())
    result = cli("train", MODEL, *SMALL, "--resume", copied, "--steps", "4", "--eval-every", "2", "--json")
    assert result.code == 0, result.err
    assert "resuming at step 2" in result.err
    resumed = json.loads(result.out)["metrics"]
    assert resumed["start_step"] == 2 and resumed["final_loss"] == record["metrics"]["final_loss"]
    assert resumed["evaluation"]["top1"] == record["metrics"]["evaluation"]["top1"]
    a, b = load(run_dir / "checkpoints" / "step_4.pt"), load(tmp_path / "checkpoints" / "step_4.pt")
    for key in ("model", "ema"):
        assert all(torch.equal(a[key][name], b[key][name]) for name in a[key]), key
    for index, state in a["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"], b["optimizer"]["state"][index]["momentum_buffer"])
    assert a["scheduler"] == b["scheduler"] and torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def test_resume_with_other_settings_names_them(straight, cli, tmp_path):
    run_dir, _ = straight
    copied = tmp_path / "copy.pt"
    copied.write_bytes((run_dir / "checkpoints" / "step_2.pt").read_bytes())
    result = cli("train", MODEL, *SMALL, "--seed", "3", "--resume", copied)
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert "seed 0 (this run: 3)" in line and "resume with the same flags" in line


def test_eval_of_the_checkpoint_gives_the_trained_runs_accuracy(straight, cli, tmp_path):
    """The EMA weights that the run evaluated at its last step, on the same images: the same numbers."""
    run_dir, record = straight
    result = cli("eval", MODEL, *SMALL, "--checkpoint", run_dir / "checkpoints" / "last.pt",
                 "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    metrics = json.loads(result.out)["metrics"]
    assert 0 <= metrics["top1"] <= 1 and metrics["images"] == 8
    assert metrics["top1"] == record["metrics"]["evaluation"]["top1"]
    assert metrics["top5"] == record["metrics"]["evaluation"]["top5"]


@pytest.mark.parametrize("flags, expected", [
    (["--checkpoint", "{last}", "--weights", "{last}"], "give either --checkpoint or --weights"),
    (["--checkpoint", "{last}", "--set", "model_options.num_classes=5"], "trained on 10 classes"),
    (["--checkpoint", "{missing}"], "no such file"),
])
def test_eval_refuses_a_checkpoint_that_does_not_fit(straight, cli, tmp_path, flags, expected):
    last = straight[0] / "checkpoints" / "last.pt"
    args = [f.format(last=last, missing=tmp_path / "none.pt") for f in flags]
    result = cli("eval", MODEL, *SMALL, *args, "--output", tmp_path)
    assert result.code == 2
    *warnings, line = result.err.strip().splitlines()
    assert expected in line and line.startswith("dnn-suite: error: ")
    assert all(warning.startswith("dnn-suite: warning: ") for warning in warnings)


def test_eval_of_a_checkpoint_takes_the_settings_it_was_trained_with(straight, cli, tmp_path):
    """Trained at 32 px: evaluated without naming it, the checkpoint's size is used (not the model's
    default 224 px), recorded, and gives the trained run's numbers; the training-only and data options
    are not taken (the evaluation's own data are its own)."""
    run_dir, record = straight
    result = cli("eval", MODEL, "--workers", "0", "--set", "model_options.synthetic_val=8", "--checkpoint",
                 run_dir / "checkpoints" / "last.pt", "--output", tmp_path / "own", "--json")
    assert result.code == 0, result.err
    assert "warning" not in result.err
    document = json.loads(result.out)
    assert document["config"]["model_options"]["image_size"] == 32
    assert document["config"]["model_options"]["ema_decay"] == 0.0  # the model's default: not a property of it
    assert document["metrics"]["top1"] == record["metrics"]["evaluation"]["top1"]


def test_a_setting_given_against_the_checkpoints_is_used_with_a_warning(straight, cli, tmp_path):
    last = straight[0] / "checkpoints" / "last.pt"
    result = cli("eval", MODEL, *SMALL, "--image-size", "64", "--checkpoint", last, "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    assert (f"dnn-suite: warning: {last} was trained with model_options.image_size 32; using 64 as given"
            in result.err.splitlines())
    assert json.loads(result.out)["config"]["model_options"]["image_size"] == 64


def test_a_checkpoint_without_its_settings_takes_them_from_its_runs_record(straight, cli, tmp_path):
    """Checkpoints written before they recorded their run's settings: train.json beside them says."""
    run_dir, _ = straight
    copy = tmp_path / "run"
    (copy / "checkpoints").mkdir(parents=True)
    (copy / "train.json").write_text((run_dir / "train.json").read_text())
    older = load(run_dir / "checkpoints" / "last.pt")
    del older["run_settings"]
    torch.save(older, copy / "checkpoints" / "last.pt")
    result = cli("eval", MODEL, "--workers", "0", "--set", "model_options.synthetic_val=8", "--checkpoint",
                 copy / "checkpoints" / "last.pt", "--output", tmp_path / "out", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["config"]["model_options"]["image_size"] == 32


def test_a_benchmark_run_of_trained_weights_takes_their_settings(straight, cli, tmp_path):
    last = straight[0] / "checkpoints" / "last.pt"
    result = cli("run", MODEL, "--workers", "0", "--iterations", "1", "--warmup", "0", "--weights", last,
                 "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["config"]["model_options"]["image_size"] == 32


def test_eval_of_another_models_checkpoint_names_the_model(straight, cli, tmp_path):
    last = straight[0] / "checkpoints" / "last.pt"
    result = cli("eval", "resnet34", *SMALL, "--checkpoint", last, "--output", tmp_path)
    assert result.code == 2
    assert f"trained as {MODEL}, not resnet34; evaluate it with `dnn-suite eval {MODEL} --checkpoint" in result.err


@pytest.mark.slow  # a child process: ~15 s, most of it starting up
def test_sigterm_writes_last_pt(tmp_path):
    command = [sys.executable, "-m", "dnn_suite", "train", MODEL, *SMALL, "--steps", "100000", "--log-every", "1",
               "--output", str(tmp_path)]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for line in child.stderr:  # training is under way
            if line.startswith("step 1/"):
                break
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 143, err
    (run_dir,) = tmp_path.iterdir()
    state = load(run_dir / "checkpoints" / "last.pt")
    assert state["format"] == CHECKPOINTS.name and 1 <= state["step"] < 100000
    assert f"continue with: dnn-suite train {MODEL} --resume" in err
