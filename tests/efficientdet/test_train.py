"""`dnn-suite train efficientdet`: checkpoints, exact resume, schedule, progress, failures.

Real data and real training, kept small: D0 at 64 pixels on 8 synthetic images, batch 2.
The tests run torch on one thread: on a small shared CPU, two intra-op threads competing
with other processes make every step many times slower, and the results do not depend on it.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dnn_suite.cli import main
from dnn_suite.training.data_order import EpochBatchSampler, SeededSamples
from dnn_suite.progress import TrainingProgress
from dnn_suite.training.rng import rng_state, set_rng_state
from dnn_suite_detection.data import SyntheticConfig, build_dataset, collate
from dnn_suite_efficientdet.checkpoint import CHECKPOINTS
from dnn_suite_efficientdet.model import build_efficientdet
from dnn_suite_efficientdet.optim import build_sgd, recipe_lr

SMALL = ["--image-size", "64", "--batch-size", "2", "--set", "model_options.synthetic_train=8",
         "--set", "model_options.synthetic_val=2", "--set", "model_options.ema_decay=0.9"]
STEPS_PER_EPOCH = 4  # 8 images, batch 2
BASE_LR = 0.08 * 2 / 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


def train(*args, data_root: Path, small: bool = True) -> tuple[int, dict | None, str]:
    """`dnn-suite train efficientdet ... --json` in this process: (exit code, train.json, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", "efficientdet", *(SMALL if small else []), "--data-root", str(data_root), "--json",
                     *map(str, args)])
    return code, (json.loads(out.getvalue()) if out.getvalue() else None), err.getvalue()


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data_root):
    """An uninterrupted 6-step run (1.5 epochs), checkpoints every 3 steps, evaluation every 3."""
    output = tmp_path_factory.mktemp("straight")
    code, document, err = train("--steps", 6, "--checkpoint-every", 3, "--eval-every", 3, "--workers", 0,
                                "--output", output, data_root=data_root)
    assert code == 0, err
    (run_dir,) = output.iterdir()
    return run_dir, document, err


def assert_same_training_state(a: dict, b: dict) -> None:
    for key in ("model", "ema"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"
    assert torch.equal(a["ema_n_averaged"], b["ema_n_averaged"])
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
    for index, state in a["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"], b["optimizer"]["state"][index]["momentum_buffer"])
    assert a["scheduler"] == b["scheduler"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert (a["step"], a["epoch"], a["position"]) == (b["step"], b["epoch"], b["position"])


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoints_every_n_steps_atomic_and_weights_only(straight):
    run_dir, document, err = straight
    directory = run_dir / "checkpoints"
    assert sorted(p.name for p in directory.iterdir()) == ["last.pt", "step_3.pt", "step_6.pt"]  # no temp files
    mid, last = load(directory / "step_3.pt"), load(directory / "last.pt")
    assert mid["format"] == CHECKPOINTS.name
    assert (mid["step"], mid["epoch"], mid["position"], mid["total_steps"]) == (3, 0, 3, 6)
    assert (last["step"], last["epoch"], last["position"]) == (6, 1, 2)
    assert mid["config"] == {"model": "efficientdet", "variant": "d0", "image_size": 64, "dataset": "synthetic",
                             "class_names": ["rectangle", "ellipse", "triangle", "cross"], "train_images": 8,
                             "batch_size": 2, "world_size": 1, "seed": 0}
    assert set(mid["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert mid["ema"].keys() == mid["model"].keys() and mid["optimizer"]["state"]
    assert int(mid["ema_n_averaged"]) == 3
    assert document["status"] == "ok"
    assert document["metrics"]["checkpoint"] == str(directory / "last.pt")
    assert f"checkpoint: step 3 -> {directory / 'step_3.pt'}" in err


def test_metrics_progress_and_evaluations(straight):
    _, document, err = straight
    metrics = document["metrics"]
    assert metrics["steps"] == 6 and metrics["epochs"] == 1.5 and metrics["steps_per_epoch"] == STEPS_PER_EPOCH
    assert math.isfinite(metrics["final_loss"]) and metrics["images_per_s"] > 0 and metrics["train_time_s"] > 0
    assert [e["step"] for e in metrics["evaluations"]] == [3, 6]
    assert metrics["evaluation"]["step"] == 6 and metrics["evaluation"]["ema"] is True
    assert 0 <= metrics["evaluation"]["mAP"] <= 1 and metrics["evaluation"]["dataset"] == "synthetic-val"
    assert "summary" not in metrics  # the CLI prints it; train.json keeps the numbers
    progress = [line for line in err.splitlines() if line.startswith("step ")]
    assert progress[0].startswith("step 1/6 (17%)  epoch 1/2  loss ") and "img/s" in progress[0]
    assert progress[-1].startswith("step 6/6 (100%)  epoch 2/2") and "ETA 0s" in progress[-1]


def test_default_length_is_one_epoch(data_root, tmp_path):
    code, document, err = train("--workers", 0, "--output", tmp_path, data_root=data_root)
    assert code == 0, err
    assert document["metrics"]["steps"] == STEPS_PER_EPOCH and document["metrics"]["epochs"] == 1
    assert [p.name for p in sorted((next(tmp_path.iterdir()) / "checkpoints").iterdir())] == ["last.pt", "step_4.pt"]


def test_schedule_warmup_then_cosine(straight):
    """Default warmup of one epoch (4 steps) from 0.1 x lr, then cosine to 0 at the last step."""
    run_dir, _, _ = straight
    mid, last = load(run_dir / "checkpoints" / "step_3.pt"), load(run_dir / "checkpoints" / "step_6.pt")
    assert mid["optimizer"]["param_groups"][0]["lr"] == pytest.approx(BASE_LR * (0.1 + 0.9 * 3 / 4))
    assert mid["scheduler"]["last_epoch"] == 3
    assert last["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- exact resume


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_matches_an_uninterrupted_run(straight, data_root, tmp_path, workers):
    """Resuming mid-epoch (step 3 of 4) continues with the same batches, augmentations, RNG,
    optimizer, schedule and EMA: the final state is bit-identical to the run that never stopped."""
    run_dir, document, _ = straight
    resumed_dir = tmp_path / "resumed"
    (resumed_dir / "checkpoints").mkdir(parents=True)
    checkpoint = resumed_dir / "checkpoints" / "step_3.pt"
    checkpoint.write_bytes((run_dir / "checkpoints" / "step_3.pt").read_bytes())
    code, resumed, err = train("--resume", checkpoint, "--workers", workers, data_root=data_root)
    assert code == 0, err
    assert "resuming at step 3" in err  # in the resumed run's directory (its step_6.pt below)
    assert resumed["metrics"]["start_step"] == 3 and resumed["metrics"]["steps"] == 6
    assert resumed["metrics"]["final_loss"] == document["metrics"]["final_loss"]
    assert_same_training_state(load(run_dir / "checkpoints" / "step_6.pt"),
                               load(resumed_dir / "checkpoints" / "step_6.pt"))
    assert resumed["metrics"]["evaluation"]["mAP"] == document["metrics"]["evaluation"]["mAP"]


def test_samples_do_not_depend_on_workers_or_start(data_root):
    """Batch b of an epoch is the same tensor whether loaded in-process, by two workers, or
    after entering the epoch at b; another epoch is another order and other augmentations."""
    config = SyntheticConfig(num_train=8, num_val=2, image_size=64, seed=0)
    dataset = build_dataset("synthetic-train", data_root / "synthetic-loader", train=True, image_size=64,
                            synthetic=config)

    def batches(epoch: int, start: int, workers: int) -> list[tuple[torch.Tensor, list[int]]]:
        sampler = EpochBatchSampler(len(dataset), 2, seed=5)
        sampler.epoch, sampler.start = epoch, start
        loader = torch.utils.data.DataLoader(SeededSamples(dataset, 5), batch_sampler=sampler, num_workers=workers,
                                             collate_fn=collate)
        return [(images, [t["image_id"] for t in targets]) for images, targets in loader]

    whole = batches(1, 0, 0)
    assert len(whole) == 4
    for (a, ids_a), (b, ids_b) in zip(whole, batches(1, 0, 2)):
        assert ids_a == ids_b and torch.equal(a, b)
    for (a, ids_a), (b, ids_b) in zip(whole[2:], batches(1, 2, 0)):
        assert ids_a == ids_b and torch.equal(a, b)
    other = batches(2, 0, 0)
    assert [ids for _, ids in other] != [ids for _, ids in whole]


def test_rng_state_round_trip(tmp_path):
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and (expected[1] == again[1]).all() and expected[2] == again[2]


# ----------------------------------------------------------------------------- bad resumes


def test_resume_with_another_variant_is_a_usage_error(straight, data_root, cli, tmp_path):
    """A checkpoint without its run's record (a copied file): the plugin's own check names the mismatch."""
    run_dir, _, _ = straight
    copied = tmp_path / "last.pt"
    copied.write_bytes((run_dir / "checkpoints" / "last.pt").read_bytes())
    result = cli("train", "efficientdet", *SMALL, "--variant", "d1", "--data-root", data_root, "--resume", copied)
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert line.startswith("dnn-suite: error: --resume: checkpoint ") and "does not fit the model" in line
    assert "keys of another shape" in line and "missing keys" in line
    assert "checkpoint: variant d0" in line and "this run: variant d1" in line


def test_resume_with_other_settings_lists_them(straight, data_root, cli):
    run_dir, _, _ = straight
    result = cli("train", "efficientdet", *SMALL, "--batch-size", "4", "--seed", "3", "--data-root", data_root,
                 "--resume", run_dir / "checkpoints" / "last.pt")
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert "batch_size 2 (this run: 4)" in line and "seed 0 (this run: 3)" in line


def test_resume_on_another_number_of_processes_is_refused(straight, data_root, cli, tmp_path):
    """The batches depend on the number of processes; a checkpoint without one (written before
    multi-process training) is a one-process checkpoint."""
    run_dir, _, _ = straight
    state = load(run_dir / "checkpoints" / "step_3.pt")
    state["config"]["world_size"] = 2
    torch.save(state, tmp_path / "two.pt")
    result = cli("train", "efficientdet", *SMALL, "--data-root", data_root, "--resume", tmp_path / "two.pt")
    assert result.code == 2 and "world_size 2 (this run: 1)" in result.err
    del state["config"]["world_size"]
    torch.save(state, tmp_path / "old.pt")
    code, document, err = train("--resume", tmp_path / "old.pt", "--steps", 4, "--workers", 0, data_root=data_root)
    assert code == 0 and document["metrics"]["steps"] == 4, err


@pytest.mark.parametrize("target", ["missing.pt", "empty-dir"])
def test_resume_from_nothing_is_a_usage_error(tmp_path, data_root, cli, target):
    (tmp_path / "empty-dir").mkdir()
    result = cli("train", "efficientdet", *SMALL, "--data-root", data_root, "--resume", tmp_path / target)
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert str(tmp_path / target) in line


def test_resume_of_a_finished_run_says_so(straight, data_root, cli):
    run_dir, _, _ = straight
    result = cli("train", "efficientdet", *SMALL, "--data-root", data_root, "--resume", run_dir / "checkpoints")
    assert result.code == 2
    assert "at step 6 and the run has 6 steps" in result.err


# ----------------------------------------------------------------------------- recipe pieces


def test_weight_decay_skips_batchnorm_and_biases():
    model = build_efficientdet("d0", 4, image_size=64)
    decay, no_decay = build_sgd(model, lr=recipe_lr(2), momentum=0.9,
                                weight_decay=4e-5).param_groups
    assert decay["weight_decay"] == 4e-5 and no_decay["weight_decay"] == 0.0
    decayed = {id(p) for p in decay["params"]}
    names = {name: id(p) in decayed for name, p in model.named_parameters()}
    bn = {f"{module_name}.{p}" for module_name, module in model.named_modules()
          if isinstance(module, torch.nn.BatchNorm2d) for p in ("weight", "bias")}
    assert bn and not any(names[name] for name in bn)
    assert not any(decays for name, decays in names.items() if name.endswith(".bias"))
    convs = [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(names[name] for name in convs)
    assert len(decay["params"]) + len(no_decay["params"]) == len(names)


def test_heads_start_sensitive_to_their_input():
    """At initialisation the class and box heads' outputs depend on the image (regression: with
    N(0, 0.01) weights in the BN'd separable convs the signal vanished below BN's eps and the heads
    output constants, so the detector hardly learned)."""
    torch.manual_seed(0)
    model = build_efficientdet("d0", 4, image_size=64).train()
    with torch.no_grad():
        class_outputs, box_outputs = model(torch.randn(2, 3, 64, 64))
    assert (class_outputs[0] - class_outputs[1]).std() > 1e-3
    assert (box_outputs[0] - box_outputs[1]).std() > 1e-3
    assert class_outputs.sigmoid().mean().item() == pytest.approx(0.01, rel=0.2)


def test_progress_lines_every_tenth_off_a_terminal_and_one_line_on_it():
    stream = io.StringIO()
    progress = TrainingProgress(stream, 0, 100, 25)
    for step in range(1, 101):
        progress.update(step, 1.0, 0.1, 4)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11 and lines[0].startswith("step 1/100") and lines[-1].startswith("step 100/100")
    assert lines[4].startswith("step 40/100 (40%)  epoch 2/4  loss 1.0000  lr 0.1")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    progress = TrainingProgress(terminal, 0, 3, 3)
    for step in (1, 2, 3):
        progress.update(step, 1.0, 0.1, 4)
    text = terminal.getvalue()
    assert text.startswith("\rstep 1/3") and text.endswith("\n") and text.count("\n") == 1


def test_a_diverging_loss_fails_the_run_at_its_step(data_root, tmp_path):
    code, document, err = train("--steps", 4, "--workers", 0, "--set", "model_options.lr=1.0e+38",
                                "--output", tmp_path, data_root=data_root)
    assert code == 1
    assert document["status"] == "failed" and "at step" in document["error"]
    assert "loss is nan" in document["error"] or "loss is inf" in document["error"]


# ----------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_saves_a_checkpoint_that_resumes(data_root, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "dnn_suite", "train", "efficientdet", *SMALL, "--data-root", str(data_root),
               "--workers", "2", "--steps", "200", "--output", str(tmp_path)]
    # Its own process group, signalled as a whole like a terminal's Ctrl-C: the loader's workers get
    # SIGINT too and must leave it to the main process.
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
    try:
        for line in child.stderr:  # the first progress line: training is under way
            if line.startswith("step 1/200"):
                break
        os.killpg(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 130, err
    (run_dir,) = tmp_path.iterdir()
    state = load(run_dir / "checkpoints" / "last.pt")
    assert 1 <= state["step"] < 200
    assert f"interrupted at step {state['step']}; continue with: dnn-suite train efficientdet --resume" in err
    assert json.loads((run_dir / "train.json").read_text())["status"] == "interrupted"
    code, document, err = train("--resume", run_dir / "checkpoints" / "last.pt", "--steps", state["step"] + 1,
                                "--workers", 0, data_root=data_root)
    assert code == 0, err
    assert document["metrics"]["steps"] == state["step"] + 1 and "schedule is recomputed" in err


# ----------------------------------------------------------------------------- learning


# D0 from random init on the synthetic shapes (512 training images at 128 pixels), 240 steps of
# batch 8 (3.75 epochs): about 2-3 minutes on two idle CPU cores (torch on two threads, one
# loader worker). Eight times the recipe's learning rate (0.08 instead of 0.08 per 64 images x 8 = 0.01), short
# warmup, mild scale jitter and no EMA (0.9998 barely moves in 240 steps).
LEARN = ["--image-size", "128", "--batch-size", "8", "--steps", "240", "--workers", "1",
         "--set", "model_options.lr=0.08", "--set", "model_options.warmup_epochs=0.1",
         "--set", "model_options.ema_decay=0", "--set", "model_options.scale_min=0.75",
         "--set", "model_options.scale_max=1.25"]


@pytest.mark.slow
def test_training_learns_the_synthetic_shapes(tmp_path_factory):
    torch.set_num_threads(2)  # the longest test: both cores (the module's other tests compare runs on one)
    try:
        code, document, err = train(*LEARN, "--output", tmp_path_factory.mktemp("learn"),
                                    data_root=tmp_path_factory.mktemp("learn-data"), small=False)
    finally:
        torch.set_num_threads(1)
    assert code == 0, err
    metrics = document["metrics"]
    curve = [loss for _, loss in metrics["loss_curve"]]
    start, end = sum(curve[:3]) / 3, sum(curve[-3:]) / 3  # the first and last ~15 steps
    assert end < 0.6 * start, curve
    assert metrics["evaluation"]["mAP"] > 0.05, metrics["evaluation"]  # chance: ~0
