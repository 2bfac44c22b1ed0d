"""The torchvision plugin's hook implementations: each hands the run to the family module that
registered the run's model. Every family module implements :class:`~.family.ModelFamily`;
``dnn-suite train`` is the core's builder and loop over the family's build functions.
"""

from __future__ import annotations

from typing import Any

import torch

from dnn_suite.context import InferenceOutput, RunContext, StepOutput
from dnn_suite.hookspecs import hookimpl
from dnn_suite.registry import DatasetCheck
from dnn_suite.training.builder import train

from . import classification, detection
from .checkpoint import CHECKPOINTS
from .classification_data import IMAGEFOLDER, check_image_folder
from .family import ModelFamily

FAMILIES: tuple[ModelFamily, ...] = (classification, detection)


def _family(run: RunContext) -> ModelFamily:
    return next(family for family in FAMILIES if run.config.model in family.names())


@hookimpl
def dnn_suite_register_models(register):
    for family in FAMILIES:
        for spec in family.model_specs():
            register(spec)


@hookimpl
def dnn_suite_check_dataset(spec: str) -> DatasetCheck | None:
    """`dnn-suite data check imagefolder:DIR`: classes and images of the folders a run reads."""
    return check_image_folder(spec) if spec.startswith(IMAGEFOLDER) else None


@hookimpl
def dnn_suite_check_config(run: RunContext) -> None:
    _family(run).check_config(run)


@hookimpl
def dnn_suite_build_model(run: RunContext) -> torch.nn.Module:
    return _family(run).build_model(run)


@hookimpl
def dnn_suite_build_dataloader(run: RunContext, split: str):
    return _family(run).build_loader(run, split)


@hookimpl
def dnn_suite_build_optimizer(run: RunContext, model: torch.nn.Module) -> torch.optim.Optimizer:
    return _family(run).build_optimizer(run, model)


@hookimpl
def dnn_suite_train_step(run: RunContext, model: torch.nn.Module, batch: Any,
                         optimizer: torch.optim.Optimizer) -> StepOutput:
    return _family(run).train_step(run, model)(model, batch, optimizer)


@hookimpl
def dnn_suite_inference_step(run: RunContext, model: torch.nn.Module, batch: Any) -> InferenceOutput:
    return _family(run).inference_step(run, model, batch)


@hookimpl
def dnn_suite_evaluate(run: RunContext, model: torch.nn.Module) -> dict[str, Any]:
    return _family(run).evaluate(run, model)


@hookimpl
def dnn_suite_train(run: RunContext) -> dict[str, Any]:
    """`dnn-suite train`: epochs or steps, warmup + cosine, EMA, checkpoints, exact resume (dnn_suite.training)."""
    return train(run, _family(run), CHECKPOINTS)
