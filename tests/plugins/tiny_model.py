"""A tiny test-only model plugin: a two-layer MLP on random regression data.

Loaded through ``DNN_SUITE_PLUGINS=tiny_model`` so the core can be tested without
EfficientDet. Its options inject faults and delays: ``nan_at`` makes the loss NaN from that
iteration on, ``data_delay_s`` slows every batch (``TINY_DATA_DELAY_S`` in the environment adds to it,
as a slower version of the code would: the run's settings stay the same), ``interrupt_at`` raises KeyboardInterrupt
as if the user pressed Ctrl-C at that step. ``oom_from_batch`` raises an out-of-memory error
and ``kill_from_batch`` kills the process with SIGKILL (as the kernel's OOM killer does) at
batch sizes from that size on (0: never). ``params_dir`` saves the parameters after every
step to ``<params_dir>/rank<R>.pt``. ``loader_workers`` > 0 serves the data through a torch
DataLoader with that many persistent worker processes, built as a third-party plugin might
(no ``worker_init_fn``). ``shrink_batch_at`` drops a batch's last sample from that step on (a new
input shape: a compiled model recompiles). In a multi-process run each rank reads its share of the
data through a ``DistributedSampler``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DistributedSampler

from dnn_suite.context import InferenceOutput, RunContext, StepOutput
from dnn_suite.distributed import unwrap, wrap_model
from dnn_suite.errors import UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.phases import phase
from dnn_suite.options import Option
from dnn_suite.registry import ModelSpec

WIDTHS = {"small": 8, "wide": 64}


@hookimpl
def dnn_suite_register_models(register):
    register(ModelSpec(
        name="tiny",
        description="two-layer MLP on random data (test plugin)",
        variants=tuple(WIDTHS),
        default_variant="small",
        datasets=("random", "missing"),
        default_dataset="random",
        default_batch_size=4,
        options=(
            Option("lr", 0.05, "SGD learning rate"),
            Option("features", 16, "input features", flag=True),
            Option("nan_at", -1, "the loss is NaN from this iteration on (-1: never)"),
            Option("data_delay_s", 0.0, "seconds every batch waits"),
            Option("interrupt_at", -1, "KeyboardInterrupt at this step (-1: never)"),
            Option("oom_from_batch", 0, "out-of-memory error at batch sizes from this one on (0: never)"),
            Option("kill_from_batch", 0, "SIGKILL at batch sizes from this one on (0: never)"),
            Option("params_dir", "", "save the parameters after every step here"),
            Option("loader_workers", 0, "DataLoader worker processes (0: no DataLoader)"),
            Option("shrink_batch_at", -1, "batches one sample smaller from this step on (-1: never)"),
        ),
    ))


def _delay_s(run: RunContext) -> float:
    return run.options["data_delay_s"] + float(os.environ.get("TINY_DATA_DELAY_S", "0"))


class _Data:
    def __init__(self, run: RunContext):
        self.run = run
        generator = torch.Generator().manual_seed(run.config.seed)
        self.x = torch.randn(32, run.options["features"], generator=generator)
        self.y = self.x.sum(dim=1, keepdim=True)

    def __iter__(self):
        run, batch = self.run, self.run.config.batch_size
        order = list(DistributedSampler(self.x, run.world_size, run.rank, shuffle=False))
        for start in range(0, len(order) - batch + 1, batch):
            time.sleep(_delay_s(run))
            indices = order[start:start + batch]
            yield self.x[indices], self.y[indices]


class _Samples(torch.utils.data.Dataset):
    """_Data's samples one by one, for a DataLoader with workers."""

    def __init__(self, data: _Data):
        self.x, self.y, self.delay = data.x, data.y, _delay_s(data.run)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int):
        time.sleep(self.delay)
        return self.x[index], self.y[index]


@hookimpl
def dnn_suite_build_model(run):
    width = WIDTHS[run.config.variant]
    model = nn.Sequential(nn.Linear(run.options["features"], width), nn.ReLU(), nn.Linear(width, 1))
    return model.to(run.device)


@hookimpl
def dnn_suite_build_dataloader(run, split):
    if run.config.dataset == "missing":
        raise UsageError(f"dataset 'missing' not found under {run.config.data_root}")
    if run.options["loader_workers"]:
        return torch.utils.data.DataLoader(_Samples(_Data(run)), batch_size=run.config.batch_size, drop_last=True,
                                           num_workers=run.options["loader_workers"], persistent_workers=True)
    return _Data(run)


@hookimpl
def dnn_suite_build_optimizer(run, model):
    return torch.optim.SGD(model.parameters(), lr=run.options["lr"])


@hookimpl
def dnn_suite_train_step(run, model, batch, optimizer):
    steps = run.state.setdefault("tiny_steps", 0)
    run.state["tiny_steps"] = steps + 1
    if steps == run.options["interrupt_at"]:
        raise KeyboardInterrupt
    if 0 < run.options["oom_from_batch"] <= run.config.batch_size:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (tiny model fault injection)")
    if 0 < run.options["kill_from_batch"] <= run.config.batch_size:
        os.kill(os.getpid(), signal.SIGKILL)
    with phase("to_device"):
        x, y = (t.to(run.device) for t in _shrunk(run, batch, steps))
    with phase("forward"):
        prediction = model(x)
    with phase("loss"):
        loss = nn.functional.mse_loss(prediction, y)
        if 0 <= run.options["nan_at"] <= steps:
            loss = loss * float("nan")
    with phase("backward"):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    with phase("optimizer"):
        optimizer.step()
    if run.options["params_dir"]:
        torch.save(unwrap(model).state_dict(), Path(run.options["params_dir"]) / f"rank{run.rank}.pt")
    return StepOutput(loss=loss.detach(), samples=len(x), components={"mse": loss.detach()})


def _shrunk(run, batch, step):
    """The batch, its last sample dropped from step ``shrink_batch_at`` on."""
    shrink = 0 <= run.options["shrink_batch_at"] <= step
    return tuple(t[:-1] for t in batch) if shrink else batch


@hookimpl
def dnn_suite_inference_step(run, model, batch):
    if model.training or not torch.is_inference_mode_enabled():
        raise RuntimeError("the core runs inference steps in eval mode under torch.inference_mode")
    steps = run.state.setdefault("tiny_steps", 0)
    run.state["tiny_steps"] = steps + 1
    x, _ = _shrunk(run, batch, steps)
    with phase("to_device"):
        x = x.to(run.device)
    with phase("forward"):
        model(x)
    return InferenceOutput(samples=len(x))


@hookimpl
def dnn_suite_evaluate(run, model):
    data = _Data(run)
    with torch.no_grad():
        error = nn.functional.mse_loss(model(data.x.to(run.device)), data.y.to(run.device))
    return {"mse": float(error), "summary": f"MSE = {float(error):.4f}"}


@hookimpl
def dnn_suite_train(run):
    """`dnn-suite train --steps N` (one pass over the data at most); DistributedDataParallel when
    several processes run."""
    model = wrap_model(run, dnn_suite_build_model(run))
    optimizer = dnn_suite_build_optimizer(run, model)
    for _, batch in zip(range(run.task["steps"] or 1), _Data(run)):
        output = dnn_suite_train_step(run, model, batch, optimizer)
    return {"loss": float(output.loss), "rank": run.rank, "world_size": run.world_size}
