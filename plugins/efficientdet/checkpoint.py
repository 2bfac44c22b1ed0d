"""EfficientDet's checkpoints: the format of `dnn-suite train`'s files and what they hold beyond
the core's entries (:mod:`dnn_suite.training.builder`): the backbone's BatchNorm epsilon (1e-5
when fine-tuned from effdet's weights) and whether the model has TF's layout; a resumed run must keep the variant.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from dnn_suite.context import RunContext
from dnn_suite.training.builder import CheckpointFormat

from .weights import backbone_bn_eps, set_backbone_bn_eps


def model_settings(run: RunContext) -> dict[str, Any]:
    return {"variant": run.config.variant}


def model_entries(model: nn.Module) -> dict[str, Any]:
    return {"backbone_bn_eps": backbone_bn_eps(model), "tf_layout": bool(model.fpn.same_padding)}


def load_model_entries(model: nn.Module, checkpoint: dict[str, Any]) -> None:
    if checkpoint.get("backbone_bn_eps"):
        set_backbone_bn_eps(model, checkpoint["backbone_bn_eps"])


#: checkpoints from before multi-process training were written by one process
CHECKPOINTS = CheckpointFormat("dnn-suite-efficientdet-train", 1, "a dnn-suite EfficientDet checkpoint",
                               older_defaults={"world_size": 1}, model_settings=model_settings,
                               model_entries=model_entries,
                               load_model_entries=load_model_entries)
