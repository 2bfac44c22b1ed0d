"""The one seam through which the benchmark child talks to a launcher's tool: the CUDA
profiler API (``cudaProfilerStart``/``Stop`` via ``torch.cuda.profiler``) and NVTX ranges
(``torch.cuda.nvtx`` push/pop).

Every call is made here and nowhere else, so that it can be observed: when the environment
variable :data:`CALL_LOG_ENV` names a file, each call is also appended to it as one JSON line
``{"call": "profiler_start" | "profiler_stop" | "range_push" | "range_pop", "name": ...,
"thread": <native thread id>, "main_thread": <native id of the process's main thread>}``.
The test suite's fake nsys/nvprof/ncu set it and build their outputs from these lines only,
so a capture call the child does not make, or makes on another thread, shows in what they
write.

On a device that is not CUDA the calls are recorded but not made (``torch.cuda.profiler`` and
``torch.cuda.nvtx`` need a driver, and there is no GPU work to capture): the record is what
the child would have done on a GPU.
"""

from __future__ import annotations

import json
import os
import threading
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CALL_LOG_ENV = "DNN_SUITE_CAPTURE_CALL_LOG"


def _record(call: str, name: str | None = None) -> None:
    path = os.environ.get(CALL_LOG_ENV)
    if not path:
        return
    line = json.dumps({"call": call, "name": name, "thread": threading.get_native_id(),
                       "main_thread": threading.main_thread().native_id})
    with open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def _cuda() -> ModuleType:
    """``torch.cuda``, imported on the first call on a CUDA device: registration needs no torch,
    so `dnn-suite list` stays light."""
    import torch

    return torch.cuda


def profiler_start(device: torch.device) -> None:
    """``cudaProfilerStart``, after the queued (warmup) work finished so it stays out."""
    _record("profiler_start")
    if device.type == "cuda":
        _cuda().synchronize(device)
        _cuda().profiler.start()


def profiler_stop(device: torch.device) -> None:
    """``cudaProfilerStop``, after the captured work finished."""
    _record("profiler_stop")
    if device.type == "cuda":
        _cuda().synchronize(device)
        _cuda().profiler.stop()


def range_push(name: str, device: torch.device) -> None:
    """Open the NVTX range ``name`` on the calling thread."""
    _record("range_push", name)
    if device.type == "cuda":
        _cuda().nvtx.range_push(name)


def range_pop(device: torch.device) -> None:
    """Close the calling thread's innermost NVTX range."""
    _record("range_pop")
    if device.type == "cuda":
        _cuda().nvtx.range_pop()
