"""The checkpoints of `dnn-suite train` for the torchvision classifiers and detectors, and reading
one back: ``dnn-suite eval MODEL --checkpoint PATH`` loads a checkpoint's EMA weights, else its
model weights (:func:`load_trained`). The training itself is the core's
(:mod:`dnn_suite.training.builder`), from the family's build functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from dnn_suite.context import RunContext
from dnn_suite.errors import UsageError
from dnn_suite.training.builder import CheckpointFormat

CHECKPOINTS = CheckpointFormat("dnn-suite-torchvision-train", 1, "a dnn-suite torchvision checkpoint")


def check_checkpoint(run: RunContext) -> None:
    """``--checkpoint`` (``dnn-suite eval``): readable, written for this model, not given with ``--weights``."""
    path = run.task.get("checkpoint")
    if not path:
        return
    if run.options["weights"]:
        raise UsageError("give either --checkpoint or --weights, not both")
    trained = (_checkpoint(run).get("config") or {}).get("model")
    if trained is not None and trained != run.config.model:
        raise UsageError(f"checkpoint {path} was trained as {trained}, not {run.config.model}; "
                         f"evaluate it with `dnn-suite eval {trained} --checkpoint {path}`")


def _checkpoint(run: RunContext) -> dict[str, Any]:
    """``--checkpoint``'s contents, read once per run."""
    state = run.state.setdefault("torchvision", {})
    if "checkpoint" not in state:
        state["checkpoint"] = CHECKPOINTS.read(Path(run.task["checkpoint"]))
    return state["checkpoint"]


def load_trained(run: RunContext, model: nn.Module, class_names: list[str], order_setting: str | None = None) -> None:
    """Load ``--checkpoint``'s EMA weights (else its model's) into ``model``, if one was given; the
    dataset evaluated must have the classes it was trained on (``order_setting``: the ``--set`` key
    that orders them, if one does)."""
    if not run.task.get("checkpoint"):
        return
    path, state = run.task["checkpoint"], _checkpoint(run)
    CHECKPOINTS.check_classes(path, state, class_names, run.config.dataset, order_setting)
    CHECKPOINTS.load_model(model, state, path)
