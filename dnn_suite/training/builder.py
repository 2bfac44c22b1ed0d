"""The one training builder of every model plugin's ``dnn-suite train``.

A model plugin describes how it builds a run's pieces once, as a :class:`ModelBuilder` (the
training data, the model, the optimizer, the train step, each from the run; its hooks build
through the same functions), and its checkpoints as a :class:`CheckpointFormat`. :func:`train`
builds the run's :class:`~.state.TrainingState` from them, at the step of ``--resume``'s
checkpoint if given, and runs the :class:`~.loop.Loop`: a linear warmup (model option
``warmup_epochs``) then cosine decay to 0, and an EMA of the weights with option ``ema_decay``
(0: none).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO, runtime_checkable

import torch
from torch import nn
from torch.utils.data import Dataset

from dnn_suite.context import RunContext, StepOutput
from dnn_suite.datasets.batches import check_one_batch
from dnn_suite.distributed import unwrap, wrap_model
from dnn_suite.errors import UsageError
from dnn_suite.precision import MixedPrecision
from dnn_suite.run.compiling import compile_model

from .checkpoint import RUN_SETTINGS, check_resumable, load_model_state, read_checkpoint, resolve_resume
from .classes import class_difference
from .data_order import EpochBatchSampler
from .ema import weight_ema
from .loop import Loop
from .schedule import warmup_cosine
from .state import TrainingState, total_steps


@dataclass(frozen=True)
class TrainingData:
    """A model's training split as `dnn-suite train` reads it: the dataset (items with their random
    augmentations drawn from torch's RNG), how its items form a batch, and its class names."""

    dataset: Dataset
    collate_fn: Callable[[list[Any]], Any]
    class_names: list[str]


class TrainStep(Protocol):
    """One training iteration of a model, and the mixed precision it runs in (whose GradScaler the
    checkpoint keeps)."""

    precision: MixedPrecision

    def __call__(self, model: nn.Module, batch: Any, optimizer: torch.optim.Optimizer) -> StepOutput: ...


@runtime_checkable
class ModelBuilder(Protocol):
    """How a model plugin builds the pieces of a run, each from the run; its hooks
    (``dnn_suite_build_model``, ...) and :func:`train` build through the same functions."""

    def image_size(self, run: RunContext) -> int:
        """The input size in pixels (a resumed run must keep it)."""
        ...

    def training_data(self, run: RunContext) -> TrainingData: ...

    def build_model(self, run: RunContext) -> nn.Module:
        """The model for the run's classes, with its weights or ``--checkpoint`` loaded, on the run's device."""
        ...

    def build_optimizer(self, run: RunContext, model: nn.Module) -> torch.optim.Optimizer: ...

    def train_step(self, run: RunContext, model: nn.Module) -> TrainStep:
        """The run's train step for ``model`` (the model itself, not its DistributedDataParallel wrapper)."""
        ...


def _no_settings(run: RunContext) -> dict[str, Any]:
    return {}


def _no_entries(model: nn.Module) -> dict[str, Any]:
    return {}


def _no_entries_to_load(model: nn.Module, checkpoint: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class CheckpointFormat:
    """A model plugin's training checkpoints. The core writes the model, EMA, optimizer, schedule,
    GradScaler, position and RNG states, the settings a resumed run must share and the class names.
    ``model_settings`` are the model's own settings a resumed run must share too (EfficientDet's
    variant); ``model_entries`` the model's own entries (read back by ``load_model_entries`` once a
    checkpoint's weights are in a model)."""

    name: str  #: the checkpoint's ``format`` entry
    version: int
    kind: str  #: what a reader expected, in errors: "a dnn-suite EfficientDet checkpoint"
    #: the values of settings that checkpoints of older versions do not record
    older_defaults: Mapping[str, Any] = field(default_factory=dict)
    model_settings: Callable[[RunContext], dict[str, Any]] = _no_settings
    model_entries: Callable[[nn.Module], dict[str, Any]] = _no_entries
    load_model_entries: Callable[[nn.Module, dict[str, Any]], None] = _no_entries_to_load

    def read(self, path: str | Path) -> dict[str, Any]:
        """A checkpoint file of this plugin, training checkpoint or model-only."""
        return read_checkpoint(path, self.kind)

    def check_classes(self, path: Path | str, checkpoint: dict[str, Any], class_names: Sequence[str],
                      dataset: str, order_setting: str | None = None) -> None:
        """A checkpoint evaluates a dataset of the classes it was trained on, in its order
        (``order_setting``: the ``--set`` key that orders the dataset's classes, if one does)."""
        saved = list(checkpoint.get("class_names", class_names))
        if saved != list(class_names):
            raise UsageError(f"checkpoint {path} was trained on {len(saved)} classes ({', '.join(saved[:5])}...) "
                             f"but dataset {dataset} has {len(class_names)} ({', '.join(class_names[:5])}...): "
                             f"{class_difference(saved, class_names, 'the checkpoint', 'the dataset', order_setting)}")

    def load_model(self, model: nn.Module, checkpoint: dict[str, Any], path: Path | str) -> None:
        """The checkpoint's weights (its EMA's where it has them) and the model's own entries into ``model``."""
        load_model_state(model, checkpoint.get("ema") or checkpoint["model"], path)
        self.load_model_entries(model, checkpoint)


def resume_settings(run: RunContext, model_settings: dict[str, Any], image_size: int,
                    data: TrainingData) -> dict[str, Any]:
    """What a checkpoint must agree on with the run that resumes it (the data order depends on the
    number of training images, the batch size per process, the number of processes and the seed)."""
    return {"model": run.config.model, **model_settings, "image_size": image_size,
            "class_names": list(data.class_names), "dataset": run.config.dataset,
            "train_images": len(data.dataset),  # type: ignore[arg-type]
            "batch_size": run.config.batch_size, "world_size": run.world_size, "seed": run.config.seed}


def describe(settings: Mapping[str, Any]) -> str:
    """``variant d0, 20 classes, image size 512``: what makes a checkpoint's weights fit a model."""
    names = settings.get("class_names") or []
    variant = f"variant {settings['variant']}, " if "variant" in settings else ""
    return f"{variant}{len(names)} classes, image size {settings.get('image_size')}"


def build_training(run: RunContext, builder: ModelBuilder, checkpoint_format: CheckpointFormat,
                   stream: TextIO) -> TrainingState:
    """The run's pieces, at the step of ``--resume``'s checkpoint if given."""
    if run.run_dir is None:
        raise RuntimeError("dnn-suite train needs a run directory")
    data = builder.training_data(run)
    sampler = EpochBatchSampler(len(data.dataset), run.config.batch_size, run.config.seed,  # type: ignore[arg-type]
                                run.rank, run.world_size)
    check_one_batch(run.config.dataset, sampler.size, run.config.batch_size, run.world_size)
    settings = resume_settings(run, checkpoint_format.model_settings(run), builder.image_size(run), data)
    resume_path = resolve_resume(run.task["resume"]) if run.task.get("resume") else None
    checkpoint = checkpoint_format.read(resume_path) if resume_path else None

    model = builder.build_model(run)
    if checkpoint is not None and resume_path is not None:  # the model first: its check names a mismatch best
        try:
            load_model_state(model, checkpoint["model"], resume_path)
            checkpoint_format.load_model_entries(model, checkpoint)
        except UsageError as error:
            raise UsageError(f"--resume: {error} (checkpoint: {describe(checkpoint.get('config') or {})}; "
                             f"this run: {describe(settings)})") from None
        check_resumable(resume_path, checkpoint, settings, checkpoint_format.name,
                        older_defaults=dict(checkpoint_format.older_defaults))
    wrapped = compile_model(wrap_model(run, model), run.config.compile)  # --compile: the module the steps call
    model = unwrap(wrapped)

    total = total_steps(run.task, sampler.batches_per_epoch, checkpoint, resume_path)
    optimizer = builder.build_optimizer(run, model)
    warmup = min(total, round(run.options["warmup_epochs"] * sampler.batches_per_epoch))
    step = builder.train_step(run, model)

    def plugin_entries() -> dict[str, Any]:
        return {"format": checkpoint_format.name, "version": checkpoint_format.version, "config": settings,
                "class_names": list(data.class_names),  # checked by `dnn-suite eval --checkpoint`
                RUN_SETTINGS: {"model": run.config.model, "variant": run.config.variant,
                               "model_options": dict(run.options)},
                **checkpoint_format.model_entries(model)}

    training = TrainingState(run=run, stream=stream, model=model, wrapped=wrapped, optimizer=optimizer,
                             scheduler=warmup_cosine(optimizer, warmup_steps=warmup, total_steps=total),
                             step_fn=step, scaler=step.precision.scaler,
                             ema=weight_ema(model, float(run.options["ema_decay"])), dataset=data.dataset,
                             collate_fn=data.collate_fn, sampler=sampler, total_steps=total, warmup_steps=warmup,
                             plugin_entries=plugin_entries, resume_path=resume_path)
    if checkpoint is not None:
        training.restore(checkpoint)
    return training


def train(run: RunContext, builder: ModelBuilder, checkpoint_format: CheckpointFormat) -> dict[str, Any]:
    """A model plugin's ``dnn_suite_train`` hook: build the run's pieces and train them (only rank 0 prints)."""
    if run.rank == 0:
        return Loop(build_training(run, builder, checkpoint_format, sys.stderr)).run()
    with open(os.devnull, "w") as silent:
        return Loop(build_training(run, builder, checkpoint_format, silent)).run()
