"""EfficientDet's checkpoints: their format, the settings a resumed run must share, and reading one.

The files themselves are written and read by :mod:`dnn_suite.training.checkpoint` (atomically,
``weights_only=True``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnn_suite.context import RunContext
from dnn_suite.training.checkpoint import check_resumable as check_resumable_training
from dnn_suite.training.checkpoint import read_checkpoint

CHECKPOINT_FORMAT = "dnn-suite-efficientdet-train"
CHECKPOINT_VERSION = 1


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    return read_checkpoint(path, "a dnn-suite EfficientDet checkpoint")


def checkpoint_config(run: RunContext, train_set: Any, image_size: int) -> dict[str, Any]:
    """What a checkpoint must agree on with the run that resumes it (the data order depends on the
    number of training images, the batch size per process, the number of processes and the seed)."""
    return {"model": run.config.model, "variant": run.config.variant, "image_size": image_size,
            "class_names": list(train_set.class_names), "dataset": run.config.dataset,
            "train_images": len(train_set), "batch_size": run.config.batch_size, "world_size": run.world_size,
            "seed": run.config.seed}


def describe(config: dict[str, Any]) -> str:
    names = config.get("class_names") or []
    return f"variant {config.get('variant')}, {len(names)} classes, image size {config.get('image_size')}"


def check_resumable(source: Path, state: dict[str, Any], config: dict[str, Any]) -> None:
    """A UsageError naming every setting in which the checkpoint and this run differ (checkpoints
    from before multi-process training were written by one process)."""
    check_resumable_training(source, state, config, CHECKPOINT_FORMAT, older_defaults={"world_size": 1})
