"""A training run's pieces and position (:class:`TrainingState`), and the checkpoint that holds them.

A checkpoint holds everything the rest of the run depends on: model, EMA, optimizer, scheduler,
GradScaler, the step and the position within the epoch, and the RNG states; the model plugin
adds its own entries (format, settings, what its evaluation needs) through ``plugin_entries``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import Dataset

from dnn_suite.context import RunContext, StepOutput
from dnn_suite.errors import UsageError

from .checkpoint import CHECKPOINT_DIR
from .data_order import EpochBatchSampler
from .ema import ema_state, load_ema
from .rng import rng_state, set_rng_state
from .schedule import follow_new_length


@dataclass
class TrainingState:
    """What the training loop steps and checkpoints, and where it is (``step``).

    Steps run ``wrapped`` (DistributedDataParallel on several processes); the optimizer, the
    EMA, checkpoints and evaluation use ``model`` itself."""

    run: RunContext
    stream: TextIO
    model: nn.Module
    wrapped: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: LambdaLR
    step_fn: Callable[[nn.Module, Any, torch.optim.Optimizer], StepOutput]
    scaler: torch.amp.GradScaler | None
    ema: AveragedModel | None
    dataset: Dataset
    collate_fn: Callable[[list[Any]], Any]
    sampler: EpochBatchSampler
    total_steps: int
    warmup_steps: int
    plugin_entries: Callable[[], dict[str, Any]]
    resume_path: Path | None = None
    step: int = 0
    evaluations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    @property
    def checkpoint_dir(self) -> Path:
        assert self.run.run_dir is not None
        return self.run.run_dir / CHECKPOINT_DIR

    def checkpoint(self) -> dict[str, Any]:
        """Everything a resumed run continues from, as the checkpoint file holds it."""
        epoch, position = divmod(self.step, self.steps_per_epoch)
        return {
            "model": self.model.state_dict(),
            **ema_state(self.ema),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "step": self.step,
            "epoch": epoch,
            "position": position,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "rng": rng_state(),
            "evaluations": self.evaluations,
            **self.plugin_entries(),
        }

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``checkpoint`` (the model's weights are loaded already, where their check names a
        mismatch best)."""
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        saved_total = int(checkpoint["total_steps"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        if saved_total != self.total_steps:
            print(f"dnn-suite: the run now has {self.total_steps} steps instead of {saved_total}: "
                  "the learning-rate schedule is recomputed for the new length", file=self.stream)
            follow_new_length(self.scheduler, self.optimizer)
        if checkpoint.get("scaler") and self.scaler is not None:
            self.scaler.load_state_dict(checkpoint["scaler"])
        if self.ema is not None and not load_ema(self.ema, checkpoint, self.resume_path or "checkpoint"):
            print("dnn-suite: the checkpoint has no EMA weights: the EMA starts from the current weights",
                  file=self.stream)
        set_rng_state(checkpoint["rng"])
        self.step = int(checkpoint["step"])
        self.evaluations = list(checkpoint.get("evaluations", []))


def total_steps(task: dict[str, Any], steps_per_epoch: int, checkpoint: dict[str, Any] | None,
                resume_path: Path | None) -> int:
    """``--steps``, else ``--epochs``, else a resumed run's own length, else one epoch."""
    if task.get("steps"):
        total = int(task["steps"])
    elif task.get("epochs"):
        total = int(task["epochs"]) * steps_per_epoch
    elif checkpoint is not None:
        total = int(checkpoint["total_steps"])
    else:
        total = steps_per_epoch
    if checkpoint is not None and total <= int(checkpoint["step"]):
        raise UsageError(f"--resume {resume_path}: the checkpoint is at step {checkpoint['step']} and the run "
                         f"has {total} steps; nothing left to train (pass a larger --steps or --epochs)")
    return total
