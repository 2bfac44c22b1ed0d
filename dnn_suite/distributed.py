"""Multi-process runs on PyTorch's own engine: torchrun (``torch.distributed.run``) starts the
processes, ``torch.distributed`` connects them, DistributedDataParallel averages gradients.

``dnn-suite run|train ... --nproc-per-node N`` re-launches the same command line under
``python -m torch.distributed.run`` (an argument list, no shell); ``torchrun ... -m dnn_suite
run ...`` works as well. Each worker finds its place in the environment torchrun sets
(``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``), joins the process group (nccl on CUDA, gloo on
CPU), uses ``cuda:LOCAL_RANK`` on a GPU machine and hands the model plugin ``run.rank`` and
``run.world_size`` so that it shards its data (e.g. with ``DistributedSampler``).

Measurement: every rank times its own iterations; after the loop the ranks' records are
gathered and rank 0 writes the results. A window's wall time is the slowest rank's, its
samples the sum over ranks, so throughput = global samples / slowest rank's window time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from dnn_suite import signals
from dnn_suite.context import WindowResult
from dnn_suite.errors import UsageError
from dnn_suite.run.statistics import summarize

if TYPE_CHECKING:
    from dnn_suite.settings.resolve import RunConfig
    from dnn_suite.context import RunContext
    from dnn_suite.registry import ProfilerSpec


@dataclass(frozen=True)
class World:
    """This process's place among the run's processes (one process: rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @classmethod
    def from_env(cls) -> World:
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1)))


def in_worker() -> bool:
    """Whether torchrun started this process (it sets WORLD_SIZE for its workers)."""
    return "WORLD_SIZE" in os.environ


def launch(argv: list[str], nproc: int, nnodes: int, node_rank: int, endpoint: str | None) -> int:
    """Run ``python -m dnn_suite ARGV`` under torchrun on this node; returns torchrun's exit code.

    One node without an endpoint is ``--standalone``; several nodes use torchrun's static
    rendezvous at ``endpoint`` (node 0's ``HOST:PORT``), every node naming its ``--node-rank``.
    """
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if endpoint:
        command += [f"--nnodes={nnodes}", f"--node-rank={node_rank}", f"--rdzv-endpoint={endpoint}"]
    elif nnodes == 1:
        command.append("--standalone")
    else:
        raise UsageError("--nnodes above 1 needs --rdzv-endpoint HOST:PORT (the address of node 0)")
    command += ["-m", "dnn_suite", *argv]
    code = signals.wait_for(subprocess.Popen(command))
    # torchrun forwards a stop request to the workers, which finish their part, then exits 1 itself
    return signals.exit_code() if code and signals.received() else code


def check(config: RunConfig, device: torch.device, profilers: Sequence[ProfilerSpec]) -> None:
    """Refuse what a multi-process run cannot do, before any process starts (``profilers``: the
    specs of the run's profilers)."""
    for profiler in profilers:
        if profiler.launcher:
            raise UsageError(f"profiler {profiler.name} re-runs the program under its tool and cannot profile "
                             "several processes; profile a one-process run")
        if profiler.one_process:
            raise UsageError(f"profiler {profiler.name} measures one process; run it without --nproc-per-node")
    if config.is_sweep:
        what = "a batch-size sweep" if config.batch_sizes else "a sweep"
        raise UsageError(f"{what} cannot run on several processes; give one value of each setting")
    if config.duration is not None:
        raise UsageError("--duration cannot be used with several processes (each would stop after a different "
                         "iteration and wait for the others forever); use --iterations")
    if config.sync_batchnorm and device.type != "cuda":
        raise UsageError("--sync-batchnorm needs CUDA (torch's SyncBatchNorm runs on GPUs only)")


def setup(config: RunConfig, device: torch.device, profilers: Sequence[ProfilerSpec]) -> tuple[World, torch.device]:
    """This process's place (from torchrun's environment) and device; a worker of a
    multi-process run checks the configuration and joins the process group."""
    world = World.from_env()
    if world.size == 1:
        return world, device
    check(config, device, profilers)
    return world, _join(world, device)


def _join(world: World, device: torch.device) -> torch.device:
    """Join the process group and return this rank's device (``cuda:LOCAL_RANK`` on CUDA)."""
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise UsageError(f"process {world.local_rank} of this node has no GPU of its own "
                             f"({torch.cuda.device_count()} present): use at most that many --nproc-per-node")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend(device))
    return device


def backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


_stop_group: Any = None  # a gloo group for stop requests, created on first use by every rank alike


def leave() -> None:
    global _stop_group
    if dist.is_initialized():
        dist.destroy_process_group()
    _stop_group = None


def any_rank(flag: bool, world_size: int) -> bool:
    """Whether ``flag`` is set on any rank, e.g. a stop request (a signal reaches the ranks at
    slightly different moments): every rank calls it after the same step and so all stop after
    the same one. A CPU all-reduce on a gloo group of its own, so that asking never waits for the GPU."""
    if world_size == 1:
        return flag
    global _stop_group
    if _stop_group is None:
        _stop_group = dist.new_group(backend="gloo")
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX, group=_stop_group)
    return bool(value.item())


def share(value: Any, world_size: int) -> Any:
    """Rank 0's ``value`` on every rank (e.g. the run directory it created)."""
    if world_size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap_model(run: RunContext, model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in DistributedDataParallel (BatchNorm as SyncBatchNorm with
    ``sync_batchnorm``); unchanged in a one-process run. Model plugins whose ``train`` hook
    builds its own model call this too."""
    if run.world_size == 1:
        return model
    if run.config.sync_batchnorm:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [run.device.index] if run.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plugin's own model inside a DistributedDataParallel wrapper."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def merge_windows(windows: list[WindowResult], world_size: int,
                  memory: dict[str, Any]) -> tuple[list[WindowResult], list[dict[str, Any]]]:
    """Gather every rank's windows and ``memory`` figures: the job's windows (all ranks'
    iterations, the slowest rank's wall time) and a per-rank summary (samples, window time, step
    times, memory)."""
    if world_size == 1:
        return windows, []
    everything: list[Any] = [None] * world_size
    dist.all_gather_object(everything, (windows, memory))
    gathered = [own for own, _ in everything]
    merged = [
        WindowResult(index, sorted((r for w in per_rank for r in w.iterations), key=lambda r: (r.iteration, r.rank)),
                     max(w.wall_s for w in per_rank), any(w.interrupted for w in per_rank))
        for index, per_rank in enumerate(zip(*gathered))
    ]
    ranks = [{"rank": rank, "samples": sum(w.samples for w in own), "window_time_s": sum(w.wall_s for w in own),
              "step_time_s": summarize([r.step_s for w in own for r in w.iterations]), "memory": own_memory}
             for rank, (own, own_memory) in enumerate(everything)]
    return merged, ranks
