"""`dnn-suite train efficientdet --nproc-per-node 2`: two gloo processes on the CPU train like one
process with the same global batch, rank 0 alone writes, and a multi-process run resumes exactly.

D0 at 64 pixels on 8 synthetic images, 2 images per process: a global batch of 4, 2 steps per
epoch. One image per process cannot train at this size: the P7 level is 1x1 at 64 pixels, and
BatchNorm refuses a batch of one value per channel (so does a one-process run with batch 1).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dnn_suite.training.data_order import EpochBatchSampler

SMALL = ["--image-size", "64", "--set", "model_options.synthetic_train=8", "--set", "model_options.synthetic_val=4",
         "--workers", "0", "--steps", "2", "--checkpoint-every", "1",
         # Clipping scales the whole gradient by 10 / its norm, which BatchNorm makes differ (see below).
         "--set", "model_options.clip_grad_norm=0"]
PRIOR_BIAS = -math.log((1 - 0.01) / 0.01)  # the class head's initial bias (focal-loss prior)


def train(*args: str | Path, data_root: Path, output: Path | None = None) -> tuple[Path, dict]:
    """`dnn-suite train efficientdet ... --json` as a child process: (its run directory, train.json)."""
    completed = subprocess.run(
        [sys.executable, "-m", "dnn_suite", "train", "efficientdet", *SMALL, "--data-root", str(data_root),
         *(["--output", str(output)] if output else []), "--json", *map(str, args)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    return Path(document["metrics"]["checkpoint"]).parent.parent, document


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, data_root) -> tuple[Path, dict]:
    """2 steps on 2 processes of 2 images, a checkpoint after each; both ranks generate the
    synthetic data at once (the first run on this data root)."""
    return train("--nproc-per-node", 2, "--batch-size", 2, data_root=data_root,
                 output=tmp_path_factory.mktemp("two"))


def test_each_rank_takes_its_slice_of_every_global_batch():
    """Step s of a multi-process epoch sees the images of step s of a one-process run with the
    global batch, and a resumed epoch starts at the same global step on every rank."""
    one = EpochBatchSampler(16, 4, seed=3)
    ranks = [EpochBatchSampler(16, 2, seed=3, rank=rank, world_size=2) for rank in range(2)]
    for sampler in (one, *ranks):
        sampler.epoch, sampler.start = 1, 1
    assert one.batches_per_epoch == ranks[0].batches_per_epoch == 4 and len(ranks[1]) == 3
    for batch, *slices in zip(one, *ranks):
        assert batch == [key for own in slices for key in own]


@pytest.mark.slow
def test_two_processes_write_once_and_train_like_one_with_the_global_batch(two_processes, data_root, tmp_path):
    """Without SyncBatchNorm each rank normalises by the statistics of its own 2 images, one
    process by those of all 4; at random initialisation the backbone's gradient is dominated by
    those statistics (measured here: the global-batch gradient and the two-rank one are nearly
    orthogonal, at 64 as at 256 pixels), so no tolerance on all weights would tell a correct
    run from a broken one. The class head's bias sees the batch through the prior-dominated
    focal loss summed over all anchors: its gradient agrees to ~1e-3 relative, its update (~1e-4
    after 2 steps) to float32 resolution at -4.6 (5e-7); per-rank loss normalisation, a
    per-process learning rate, unsynchronised or wrongly sharded ranks each change that update
    by 50-150 %. The learning-rate schedule must match exactly."""
    ddp_dir, ddp = two_processes
    assert files(ddp_dir) == ["checkpoints/last.pt", "checkpoints/step_1.pt", "checkpoints/step_2.pt", "steps.csv",
                              "train.json"]
    assert len(list(ddp_dir.parent.iterdir())) == 1  # rank 0 wrote the one run directory
    metrics = ddp["metrics"]
    assert (metrics["world_size"], metrics["batch_size"], metrics["steps_per_epoch"], metrics["steps"]) == (2, 2, 2, 2)
    assert load(ddp_dir / "checkpoints" / "last.pt")["config"]["world_size"] == 2

    one_dir, one = train("--batch-size", 4, data_root=data_root, output=tmp_path)
    assert one["metrics"]["steps_per_epoch"] == 2
    for step in ("step_1.pt", "step_2.pt"):
        a, b = load(ddp_dir / "checkpoints" / step), load(one_dir / "checkpoints" / step)
        assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]  # lr of the global batch
        bias_a, bias_b = (state["model"]["class_net.predict.1.bias"] for state in (a, b))
        assert (bias_b - PRIOR_BIAS).abs().max() > 2e-5  # it moved, far beyond the tolerance
        torch.testing.assert_close(bias_a, bias_b, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_a_two_process_run_resumes_exactly(two_processes, data_root, tmp_path):
    """Resumed at step 1 on two processes, step 2 is bit-identical to the run that never stopped."""
    ddp_dir, ddp = two_processes
    resumed_dir = tmp_path / "resumed"
    (resumed_dir / "checkpoints").mkdir(parents=True)
    checkpoint = resumed_dir / "checkpoints" / "step_1.pt"
    shutil.copyfile(ddp_dir / "checkpoints" / "step_1.pt", checkpoint)
    run_dir, resumed = train("--nproc-per-node", 2, "--batch-size", 2, "--resume", checkpoint, data_root=data_root)
    assert run_dir == resumed_dir
    assert files(resumed_dir) == ["checkpoints/last.pt", "checkpoints/step_1.pt", "checkpoints/step_2.pt",
                                  "steps.csv", "train.json"]
    assert (resumed["metrics"]["start_step"], resumed["metrics"]["steps"]) == (1, 2)
    assert resumed["metrics"]["final_loss"] == ddp["metrics"]["final_loss"]
    a, b = load(ddp_dir / "checkpoints" / "step_2.pt"), load(resumed_dir / "checkpoints" / "step_2.pt")
    for key in ("model", "ema"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"
    for index, state in a["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"], b["optimizer"]["state"][index]["momentum_buffer"])
    assert (a["scheduler"], a["step"], a["epoch"], a["position"]) == (b["scheduler"], b["step"], b["epoch"],
                                                                       b["position"])
