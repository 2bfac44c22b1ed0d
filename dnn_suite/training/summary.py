"""What a training run returns: its metrics for train.json and the lines printed at its end."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from dnn_suite.progress import TrainingProgress, duration
from .state import TrainingState


def plain(value: Any) -> Any:
    """Evaluation metrics as plain dicts, lists, strings and numbers (JSON and ``weights_only`` safe)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return plain(value.tolist())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


#: the evaluation numbers that sum one up, the first a result has: detection's, then classification's
HEADLINE_METRICS = ("mAP", "top1")


def headline(result: dict[str, Any]) -> str | None:
    """``mAP 0.4321`` (or ``top1 ...``): an evaluation in one number; None when it has none of them."""
    key = next((k for k in HEADLINE_METRICS if isinstance(result.get(k), float)), None)
    return f"{key} {result[key]:.4f}" if key else None


def loss_curve(losses: list[float], start: int, points: int = 50) -> list[list[float]]:
    """``[last step, mean loss]`` over up to ``points`` equal chunks of the steps trained."""
    if not losses:
        return []
    size = math.ceil(len(losses) / points)
    return [[start + min(i + size, len(losses)), sum(losses[i:i + size]) / len(losses[i:i + size])]
            for i in range(0, len(losses), size)]


def metrics(training: TrainingState, start_step: int, losses: list[float], wall_s: float, progress: TrainingProgress,
            final: dict[str, Any] | None, checkpoint: str) -> dict[str, Any]:
    """The run's metrics, with ``summary``: the lines the CLI prints."""
    tail = losses[-20:]
    result: dict[str, Any] = {
        "steps": training.step,
        "total_steps": training.total_steps,
        "epochs": round(training.step / training.steps_per_epoch, 4),
        "steps_per_epoch": training.steps_per_epoch,
        "batch_size": training.run.config.batch_size,
        "world_size": training.run.world_size,
        "resumed_from": str(training.resume_path) if training.resume_path else None,
        "start_step": start_step,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "final_loss_mean20": sum(tail) / len(tail) if tail else None,
        "loss_curve": loss_curve(losses, start_step),
        "final_lr": training.optimizer.param_groups[0]["lr"],
        "images_per_s": progress.images_per_s(),
        "train_time_s": wall_s,
        "evaluation": training.evaluations[-1] if training.evaluations else None,
        "evaluations": training.evaluations,
        "checkpoint": checkpoint,
    }
    lines = [f"trained steps {start_step}-{training.step} of {training.total_steps} "
             f"({result['epochs']:g} epochs) in {duration(wall_s)}, {result['images_per_s']:.1f} images/s",
             f"loss {result['first_loss']:.4f} -> {result['final_loss']:.4f} "
             f"(mean of the last {len(tail)} steps {result['final_loss_mean20']:.4f})"]
    if final is not None and headline(final):
        lines.append(f"{headline(final)} on {final.get('dataset', 'the eval split')}"
                     f"{' (EMA weights)' if training.ema is not None else ''} at step {final['step']}")
    lines.append(f"checkpoint {checkpoint}")
    result["summary"] = "\n".join(lines)
    return result
