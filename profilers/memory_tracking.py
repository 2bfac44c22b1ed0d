"""One training iteration under torch's ``MemTracker``: bytes per category at the peak and at
each phase boundary, per top-level module, and the allocator's own figures beside them.

``MemTracker`` (``torch.distributed._tools.mem_tracker``) is a dispatch mode that sees every
tensor storage created in its context, plus what ``track_external`` hands it (the model's
parameters, buffers and gradients, the optimizer's state). It files a storage as
``Activation`` when it is created in forward, ``Temp`` in backward, ``Optstate`` in the
optimizer step. What it cannot see: the allocator's cache and fragmentation, library
workspaces allocated outside tensors (cuDNN, oneDNN), the CUDA context, and on CPU everything
else in the process (interpreter, libraries, data-loader buffers). That part is reported as
the difference to the allocator's figures (CUDA: ``torch.cuda.memory_stats``; CPU: RSS).

Each tracked iteration gets its own tracker, so its peak is that iteration's.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable

import psutil
import torch
from torch.distributed._tools.mem_tracker import MemTracker
from torch.utils._pytree import tree_flatten

from dnn_suite.memory_model import CATEGORIES as MEMORY_CATEGORIES
from dnn_suite.memory_model import TOTAL

# MemTracker's category names -> ours (memory.json's, in the order they are reported).
CATEGORIES = dict(zip(("Parameter", "Buffer", "Gradient", "Optstate", "Activation", "Temp", "Other"),
                      MEMORY_CATEGORIES, strict=True))
_POST_FW, _POST_BW, _PRE_FW, _PRE_BW, _PEAK_FW, _PEAK_BW = (
    "Post-Forward", "Post-Backward", "Pre-Forward", "Pre-Backward", "Peak-Forward", "Peak-Backward")

Breakdown = dict[str, int]
"""category -> bytes, with ``total``"""


def _name(key: Any) -> str:
    # MemTracker's keys are str-valued Enums whose hash is not the string's: compare values.
    return str(key.value) if isinstance(key, Enum) else str(key)


def breakdown(snapshot: dict[torch.device, dict[Any, int]], device: torch.device) -> Breakdown:
    """``device``'s share of a MemTracker snapshot in our category names (zeros when absent)."""
    result = dict.fromkeys([*CATEGORIES.values(), TOTAL], 0)
    for snap_device, categories in snapshot.items():
        if snap_device.type != device.type or (device.index is not None and snap_device.index != device.index):
            continue
        for key, value in categories.items():
            name = _name(key)
            result[CATEGORIES.get(name, TOTAL if name == "Total" else name)] += int(value)
    return result


def _storage_bytes(tensors: list[torch.Tensor]) -> int:
    seen: dict[int, int] = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def top_level_modules(model: torch.nn.Module, tracker: MemTracker) -> dict[str, torch.nn.Module]:
    """The model's direct children, and any other module that ran as a root of its own during
    the iteration (a loss module the train step holds outside the model)."""
    modules = {name: child for name, child in model.named_children()}
    for module, stats in tracker.memory_tracking.items():
        if "." not in stats.mod_fqn and module is not model and not any(module is m for m in modules.values()):
            modules[stats.mod_fqn] = module
    return modules


def _first(stats: Any, state: str, device: torch.device) -> Breakdown | None:
    for key, snapshots in stats.snapshots.items():
        if _name(key) == state and snapshots:
            return breakdown(snapshots[0], device)
    return None


def module_breakdown(module: torch.nn.Module, stats: Any, optimizer: torch.optim.Optimizer,
                     device: torch.device) -> dict[str, int | None]:
    """Per module: its parameters, buffers, gradients and optimizer state; the activations its
    forward left allocated (after minus before its forward: saved for backward, and its
    output); and how far memory rose above its starting point during its forward and its
    backward (its transient peak)."""
    parameters = list(module.parameters())
    grads = [p.grad for p in parameters if p.grad is not None]
    state = [value for p in parameters for value in optimizer.state.get(p, {}).values()
             if isinstance(value, torch.Tensor)]
    row: dict[str, int | None] = {
        "parameters": _storage_bytes(parameters),
        "buffers": _storage_bytes(list(module.buffers())),
        "gradients": _storage_bytes(grads),
        "optimizer_state": _storage_bytes(state),
        "activations": None, "forward_peak_rise": None, "backward_peak_rise": None,
    }
    if stats is None:
        return row
    before, after = _first(stats, _PRE_FW, device), _first(stats, _POST_FW, device)
    if before is not None and after is not None:
        row["activations"] = after["activations"] - before["activations"]
    for key, start, peak in (("forward_peak_rise", _PRE_FW, _PEAK_FW), ("backward_peak_rise", _PRE_BW, _PEAK_BW)):
        low, high = _first(stats, start, device), _first(stats, peak, device)
        if low is not None and high is not None:
            row[key] = high[TOTAL] - low[TOTAL]
    return row


def allocator_view(device: torch.device) -> dict[str, int]:
    """The allocator's own figures for the iteration just run (CUDA: peaks since the reset
    before it; CPU: the process's resident set size now)."""
    if device.type == "cuda":
        stats = torch.cuda.memory_stats(device)
        allocated, reserved = stats.get("allocated_bytes.all.peak", 0), stats.get("reserved_bytes.all.peak", 0)
        return {"cuda_peak_allocated": allocated, "cuda_peak_reserved": reserved,
                "cuda_fragmentation": reserved - allocated,
                "cuda_alloc_retries": stats.get("num_alloc_retries", 0), "cuda_ooms": stats.get("num_ooms", 0)}
    return {"rss": psutil.Process().memory_info().rss}


def track_iteration(model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: Callable[[], Any],
                    device: torch.device, inputs: Any = None) -> dict[str, Any]:
    """Run ``step`` (one whole training iteration) under a fresh MemTracker and return the
    breakdown at its peak and phase boundaries, per top-level module, and the allocator view.
    The tensors in ``inputs`` (the batch, loaded before tracking) count as ``other``."""
    tracker = MemTracker()
    tracker.track_external(model, optimizer, *(t for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)))
    after_step: dict[str, Breakdown] = {}

    def record_after_step(*_: Any) -> None:
        after_step["after_optimizer_step"] = breakdown(tracker.get_tracker_snapshot("current"), device)

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    handle = optimizer.register_step_post_hook(record_after_step)
    try:
        with tracker:
            step()
    finally:
        handle.remove()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    root = tracker.memory_tracking.get(model)
    phases: dict[str, Breakdown | None] = {
        "after_forward": None if root is None else _first(root, _POST_FW, device),
        "after_backward": None if root is None else _first(root, _POST_BW, device),
        "after_optimizer_step": after_step.get("after_optimizer_step"),
    }
    modules = {name: module_breakdown(module, tracker.memory_tracking.get(module), optimizer, device)
               for name, module in top_level_modules(model, tracker).items()}
    end = breakdown(tracker.get_tracker_snapshot("current"), device)
    return {"peak": breakdown(tracker.get_tracker_snapshot("peak"), device), "phases": phases,
            "end": end, "modules": modules, "allocator": allocator_view(device)}
