"""``--scenario inference``: forward passes of the model in eval mode under ``torch.inference_mode``,
with the model's post-processing (a detector's decoding and NMS), timed by the benchmark protocol
of training (warmup, measured windows, the run's timing mode).

The model plugin's ``dnn_suite_inference_step`` hook does one batch, with the precision, memory
format and options of its train step; the core builds no optimizer, reads the batches of the
``eval`` split (no training augmentation), puts the model in eval mode and records each batch's
latency as the iteration's step time. run.json records the scenario at its top and its latency
percentiles per batch in ``metrics.inference``; ``compare`` gives no verdicts between scenarios.
"""

from __future__ import annotations

from typing import Any

import torch

from dnn_suite.context import InferenceOutput, RunContext
from dnn_suite.errors import UsageError

INFERENCE = "inference"
#: the data split each scenario reads
DATA_SPLIT = {"train": "train", INFERENCE: "eval"}


def inferring(run: RunContext) -> bool:
    return run.config.scenario == INFERENCE


def check(run: RunContext) -> None:
    """Refuse an inference run of a model whose plugin has no inference step."""
    if inferring(run) and not run.hook.dnn_suite_inference_step.get_hookimpls():
        raise UsageError(f"model {run.config.model} has no inference step (its plugin implements no "
                         "dnn_suite_inference_step); use --scenario train")


def infer(run: RunContext, model: torch.nn.Module, batch: Any) -> InferenceOutput:
    """One batch through the model plugin's inference step, without autograd."""
    with torch.inference_mode():
        return run.hook.dnn_suite_inference_step(run=run, model=model, batch=batch)


def inference_metrics(metrics: dict[str, Any], batch_size: int) -> dict[str, Any]:
    """run.json's ``metrics.inference``: the batch size and each batch's latency percentiles."""
    step = metrics["step_time_s"]
    return {"batch_size": batch_size, "samples_per_s": metrics["throughput"]["value"],
            "latency_s": {"p50": step["median"], "p90": step["p90"], "p99": step["p99"], "mean": step["mean"],
                          "min": step["min"], "max": step["max"]}}
