"""DataLoader settings (workers, pinned memory, prefetching) chosen from the device and the machine,
recorded in run.json.

On the CPU the defaults stay small (2 workers): the training step itself needs the cores. A GPU
consumes batches much faster than two workers decode and augment them, so on CUDA the default
is a worker per usable core (``os.sched_getaffinity``: what this process may run on, not what
the machine has), one left for each training process, up to 8 per process; pinned host memory
(asynchronous host-to-device copies) and 4 batches prefetched per worker.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # an annotation only: dnn_suite.context, which plugins import to register, stays torch-free
    import torch

CPU_WORKERS = 2
MAX_CUDA_WORKERS = 8
CUDA_PREFETCH_FACTOR = 4


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def loader_settings(workers: int | None, device: torch.device, processes: int = 1) -> dict[str, Any]:
    """DataLoader keyword settings; ``workers`` None chooses the count (``processes`` share the cores)."""
    cuda = device.type == "cuda"
    chosen = workers
    if chosen is None:
        chosen = min(MAX_CUDA_WORKERS, max(1, usable_cores() // processes - 1)) if cuda else CPU_WORKERS
    return {
        "workers": chosen,
        "workers_from": "--workers" if workers is not None else f"default for {device.type}",
        "usable_cores": usable_cores(),
        "pin_memory": cuda,
        "prefetch_factor": (CUDA_PREFETCH_FACTOR if cuda else 2) if chosen > 0 else None,
        "persistent_workers": chosen > 0,
    }
