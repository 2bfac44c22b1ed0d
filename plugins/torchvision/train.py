"""``dnn-suite train MODEL`` for the torchvision classifiers and detectors, and their checkpoints.

A family module (classification.py, detection.py) gives the model, the optimizer, the train
step and the training data (:class:`~.common.TrainingData`); :mod:`dnn_suite.training` does the
rest: the loop with periodic evaluation and checkpoints, ``last.pt`` on Ctrl-C or SIGTERM, and
exact resume (the data order and augmentations depend on neither the DataLoader workers nor
where a run started). The schedule is a linear warmup (option ``warmup_epochs``) then cosine
decay to 0 over the run; option ``ema_decay`` evaluates and saves an EMA of the weights too.

``dnn-suite eval MODEL --checkpoint PATH`` loads a checkpoint's EMA weights, else its model
weights (:func:`load_trained`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from torch import nn

from dnn_suite.context import RunContext
from dnn_suite.distributed import unwrap, wrap_model
from dnn_suite.errors import UsageError
from dnn_suite.training.checkpoint import check_resumable, load_model_state, read_checkpoint, resolve_resume
from dnn_suite.training.data_order import EpochBatchSampler
from dnn_suite.training.ema import weight_ema
from dnn_suite.training.loop import train_on_rank
from dnn_suite.training.schedule import warmup_cosine
from dnn_suite.training.state import Training, total_steps

from . import common

CHECKPOINT_FORMAT = "dnn-suite-torchvision-train"
CHECKPOINT_VERSION = 1
_KIND = "a dnn-suite torchvision checkpoint"


def checkpoint_config(run: RunContext, data: common.TrainingData) -> dict[str, Any]:
    """What a checkpoint must agree on with the run that resumes it (the data order depends on the
    number of training images, the batch size per process, the number of processes and the seed)."""
    return {"model": run.config.model, "image_size": run.options["image_size"], "dataset": run.config.dataset,
            "class_names": list(data.class_names), "train_images": len(data.dataset),  # type: ignore[arg-type]
            "batch_size": run.config.batch_size, "world_size": run.world_size, "seed": run.config.seed}


def training(run: RunContext, family: ModuleType, stream: TextIO) -> Training:
    """The run's pieces, at the step of ``--resume``'s checkpoint if given."""
    if run.run_dir is None:
        raise RuntimeError("dnn-suite train needs a run directory")
    data: common.TrainingData = family.training_data(run)
    sampler = EpochBatchSampler(len(data.dataset), run.config.batch_size, run.config.seed,  # type: ignore[arg-type]
                                run.rank, run.world_size)
    if sampler.batches_per_epoch == 0:
        raise UsageError(f"dataset {run.config.dataset} has {sampler.size} training images, fewer than one batch "
                         f"of {sampler.global_batch_size}; lower --batch-size")
    config = checkpoint_config(run, data)
    resume_path = resolve_resume(run.task["resume"]) if run.task.get("resume") else None
    state = read_checkpoint(resume_path, _KIND) if resume_path else None
    model = family.build_model(run)
    if state is not None:  # the model first: its key/shape check names the mismatch best
        load_model_state(model, state["model"], resume_path)
        check_resumable(resume_path, state, config, CHECKPOINT_FORMAT)
    wrapped = wrap_model(run, model)
    model = unwrap(wrapped)
    total = total_steps(run.task, sampler.batches_per_epoch, state, resume_path)
    optimizer = family.build_optimizer(run, model)
    warmup = min(total, round(run.options["warmup_epochs"] * sampler.batches_per_epoch))

    def extra_state() -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config,
                "class_names": list(data.class_names)}  # checked by `dnn-suite eval --checkpoint`

    result = Training(run=run, stream=stream, model=model, wrapped=wrapped, optimizer=optimizer,
                      scheduler=warmup_cosine(optimizer, warmup_steps=warmup, total_steps=total),
                      step_fn=functools.partial(family.train_step, run), scaler=common.precision(run).scaler,
                      ema=weight_ema(model, float(run.options["ema_decay"])), dataset=data.dataset,
                      collate_fn=data.collate_fn, sampler=sampler, total_steps=total, warmup_steps=warmup,
                      extra_state=extra_state, resume_path=resume_path)
    if state is not None:
        result.restore(state)
    return result


def train(run: RunContext, family: ModuleType) -> dict[str, Any]:
    """The ``dnn_suite_train`` hook's work for a model of ``family``."""
    return train_on_rank(run.rank, lambda stream: training(run, family, stream))


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
        state["checkpoint"] = read_checkpoint(Path(run.task["checkpoint"]), _KIND)
    return state["checkpoint"]


def load_trained(run: RunContext, model: nn.Module, class_names: list[str]) -> None:
    """Load ``--checkpoint``'s EMA weights (else its model's) into ``model``, if one was given; the
    dataset evaluated must have the classes it was trained on."""
    if not run.task.get("checkpoint"):
        return
    path, state = run.task["checkpoint"], _checkpoint(run)
    saved = list(state.get("class_names", class_names))
    if saved != list(class_names):
        raise UsageError(f"checkpoint {path} was trained on {len(saved)} classes ({', '.join(saved[:5])}...) "
                         f"but dataset {run.config.dataset} has {len(class_names)} "
                         f"({', '.join(class_names[:5])}...); evaluate it on a dataset with its classes")
    load_model_state(model, state.get("ema") or state["model"], path)
