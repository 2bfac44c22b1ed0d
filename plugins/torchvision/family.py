"""The interface every model family of the torchvision plugin implements (classification.py,
detection.py): the core's :class:`~dnn_suite.training.builder.ModelBuilder` (what ``dnn-suite
train`` builds a run from) and what the plugin's other hooks hand to the family of the run's model.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from dnn_suite.context import InferenceOutput, RunContext
from dnn_suite.registry import ModelSpec
from dnn_suite.training.builder import ModelBuilder


@runtime_checkable
class ModelFamily(ModelBuilder, Protocol):
    """A group of torchvision models built the same way (its module implements these functions)."""

    def names(self) -> Set[str]:
        """The models of the family (``dnn-suite run NAME``)."""
        ...

    def model_specs(self) -> list[ModelSpec]: ...

    def check_config(self, run: RunContext) -> None:
        """Refuse settings the run's model cannot take, before anything is built."""
        ...

    def build_loader(self, run: RunContext, split: str) -> torch.utils.data.DataLoader: ...

    def inference_step(self, run: RunContext, model: nn.Module, batch: Any) -> InferenceOutput:
        """One batch of the eval split through the model in eval mode and its post-processing."""
        ...

    def evaluate(self, run: RunContext, model: nn.Module) -> dict[str, Any]: ...
