"""``dnn-suite train efficientdet``: the original benchmark's train_coco.sh, made resumable.

The official recipe: SGD (momentum 0.9, 0.08 per 64 images, weight decay 4e-5 not on BN or
biases), linear warmup then cosine decay over the whole run, gradient-norm clipping 10, an
EMA of the weights, periodic evaluation and checkpoints.

This module builds the run's pieces and checks a checkpoint to resume against them; the
model-agnostic rest is :mod:`dnn_suite.training`: exact resume (the data order and the
augmentations depend on neither the DataLoader workers nor where a run started, see
``data_order``), the loop with its Ctrl-C/SIGTERM handling (``loop``), and the checkpoint's
contents (``state``). A resumed run computes the same steps, bit for bit on the CPU, as one
that never stopped.

Several processes (``--nproc-per-node``): ``--batch-size`` is per process. Every epoch's
permutation is cut into global batches of all ranks' images and each rank takes its slice, so
a step sees the images of a one-process run with the global batch and the saved position counts
global steps; the loss is the global batch's (see step.py) and the model runs in
DistributedDataParallel. Every rank resumes from the same checkpoint.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from dnn_suite.context import RunContext
from dnn_suite.distributed import unwrap, wrap_model
from dnn_suite.errors import UsageError
from dnn_suite.training.checkpoint import load_model_state, resolve_resume
from dnn_suite.training.data_order import EpochBatchSampler
from dnn_suite.training.ema import weight_ema
from dnn_suite.training.loop import Loop
from dnn_suite.training.schedule import warmup_cosine
from dnn_suite.training.state import Training, total_steps
from dnn_suite_detection.data import collate

from . import build
from .checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, check_resumable, checkpoint_config, describe
from .checkpoint import load_checkpoint
from .weights import backbone_bn_eps, set_backbone_bn_eps


def training(run: RunContext, stream: TextIO) -> Training:
    """The run's pieces, at the step of ``--resume``'s checkpoint if given."""
    if run.run_dir is None:
        raise RuntimeError("dnn-suite train needs a run directory")
    train_set = build.dataset(run, "train")
    sampler = EpochBatchSampler(len(train_set), run.config.batch_size, run.config.seed, run.rank, run.world_size)
    if sampler.batches_per_epoch == 0:
        raise UsageError(f"dataset {run.config.dataset} has {len(train_set)} training images, fewer than "
                         f"one batch of {sampler.global_batch_size}; lower --batch-size")
    config = checkpoint_config(run, train_set, build.image_size(run))
    resume_path = resolve_resume(run.task["resume"]) if run.task.get("resume") else None
    state = load_checkpoint(resume_path) if resume_path else None

    model = build.build_model(run)
    if state is not None:  # the model first: its key/shape check names the mismatch best
        try:
            load_model_state(model, state["model"], resume_path)
            set_backbone_bn_eps(model, state.get("backbone_bn_eps", backbone_bn_eps(model)))
        except UsageError as error:
            saved = state.get("config") or {}
            raise UsageError(f"--resume: {error} (checkpoint: {describe(saved)}; "
                             f"this run: {describe(config)})") from None
        check_resumable(resume_path, state, config)
    wrapped = wrap_model(run, model)
    model = unwrap(wrapped)

    total = total_steps(run.task, sampler.batches_per_epoch, state, resume_path)
    optimizer = build.build_optimizer(run, model)
    warmup = min(total, round(run.options["warmup_epochs"] * sampler.batches_per_epoch))
    step_fn = build.train_step(run, model)

    def extra_state() -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config,
                "class_names": list(train_set.class_names),  # read by `dnn-suite eval --checkpoint`
                "backbone_bn_eps": backbone_bn_eps(model),  # 1e-5 when fine-tuned from effdet's weights
                "tf_layout": bool(model.fpn.same_padding)}

    result = Training(run=run, stream=stream, model=model, wrapped=wrapped, optimizer=optimizer,
                      scheduler=warmup_cosine(optimizer, warmup_steps=warmup, total_steps=total),
                      step_fn=step_fn, scaler=step_fn.precision.scaler,
                      ema=weight_ema(model, float(run.options["ema_decay"])),
                      dataset=train_set, collate_fn=collate, sampler=sampler, total_steps=total,
                      warmup_steps=warmup, extra_state=extra_state, resume_path=resume_path)
    if state is not None:
        result.restore(state)
    return result


def train(run: RunContext) -> dict[str, Any]:
    """The ``dnn_suite_train`` hook's work; on several processes only rank 0 prints."""
    if run.rank == 0:
        return Loop(training(run, sys.stderr)).run()
    with open(os.devnull, "w") as silent:
        return Loop(training(run, silent)).run()
