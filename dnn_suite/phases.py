"""Phases of a training iteration, marked for profilers: ``with phase("forward"): ...``.

A phase is a ``torch.profiler.record_function`` range named ``dnn_suite.<phase>``, so it shows
in a torch.profiler (kineto) trace as a ``user_annotation`` event inside the iteration's
``ProfilerStep#N`` and in ``key_averages()``. When no torch profiler records (no
``--profiler torch``, or its schedule is between recording steps) ``phase`` returns a shared
no-op context: one check of the profiler's state, no record is created.

The names, the one list trace readers rely on (in the order an iteration runs them):

``dnn_suite.data_wait``
    the runner waiting for the next batch from the model's data loader (the core marks it
    around the fetch that ``iterations.csv``'s ``data_wait_s`` times);
``dnn_suite.to_device``
    the train step copying the batch to the run's device;
``dnn_suite.forward``
    the model's forward pass (under autocast with ``--amp``). A model whose forward returns
    its losses (torchvision's detectors) computes its loss terms here;
``dnn_suite.loss``
    the loss from the model's outputs (with several processes, EfficientDet's all-reduce of
    the global batch's positives too);
``dnn_suite.backward``
    clearing the previous gradients and the backward pass (in a multi-process run,
    DistributedDataParallel's gradient all-reduce overlaps it);
``dnn_suite.optimizer``
    the parameter update: gradient unscaling and clipping where used, the optimizer's step,
    the GradScaler's update.
``dnn_suite.postprocess``
    in an inference iteration (``--scenario inference``), after ``forward``: the model's
    post-processing of its outputs (a detector's decoding, NMS, the detections kept).

Model plugins mark the phases of their train step; :class:`dnn_suite.precision.MixedPrecision`
marks ``backward`` and ``optimizer`` in ``backward_and_step``. Time inside a ``ProfilerStep#N``
but outside every phase is the runner's bookkeeping and whatever a step does unmarked.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch.profiler import record_function

PREFIX = "dnn_suite."
PHASES = ("data_wait", "to_device", "forward", "loss", "backward", "optimizer")
#: an inference iteration's phases
INFERENCE_PHASES = ("data_wait", "to_device", "forward", "postprocess")
RECORDS = {name: PREFIX + name for name in (*PHASES, *INFERENCE_PHASES)}  # phase -> record name in the trace

_OFF = nullcontext()
_recording = torch.autograd._profiler_enabled  # True while a torch profiler records (not in its warmup)


def phase(name: str) -> AbstractContextManager:
    """The range of phase ``name`` (one of :data:`PHASES` or :data:`INFERENCE_PHASES`) of the current iteration."""
    try:
        record = RECORDS[name]
    except KeyError:
        raise ValueError(f"unknown phase {name!r} (phases: {', '.join(RECORDS)})") from None
    if not _recording():
        return _OFF
    return record_function(record)
