"""EfficientDet's checkpoints: their format, the settings a resumed run must share, and reading one.

The files themselves are written and read by :mod:`dnn_suite.training.checkpoint` (atomically,
``weights_only=True``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnn_suite.context import RunContext
from dnn_suite.errors import UsageError
from dnn_suite.training.checkpoint import load_tensors

CHECKPOINT_FORMAT = "dnn-suite-efficientdet-train"
CHECKPOINT_VERSION = 1


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path}: no such file")
    state = load_tensors(path, f"checkpoint {path}: not a readable checkpoint")
    if not isinstance(state, dict) or "model" not in state:
        raise UsageError(f"checkpoint {path}: expected a dnn-suite EfficientDet checkpoint with a 'model' entry")
    return state


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
    """A UsageError naming every setting in which the checkpoint and this run differ."""
    if state.get("format") != CHECKPOINT_FORMAT or "step" not in state:
        raise UsageError(f"--resume {source}: not a `dnn-suite train` checkpoint (no training state; "
                         "`dnn-suite eval --checkpoint` reads model-only files)")
    saved = {"world_size": 1, **(state.get("config") or {})}  # checkpoints from before multi-process training
    differences = [f"{key} {saved.get(key)!r} (this run: {value!r})" for key, value in config.items()
                   if saved.get(key) != value and key != "class_names"]
    if saved.get("class_names") != config["class_names"]:
        differences.append(f"classes {', '.join(saved.get('class_names') or [])} "
                           f"(this run: {', '.join(config['class_names'])})")
    if differences:
        raise UsageError(f"--resume {source}: the checkpoint was written with other settings: "
                         + "; ".join(differences) + "; resume with the same flags")
