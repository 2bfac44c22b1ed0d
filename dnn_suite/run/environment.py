"""The software and hardware a run happened on, recorded with every run (and shown by ``dnn-suite env``).

torch is imported only where its figures are read, so that ``dnn-suite env --no-torch`` answers
without it (``capture(with_torch=False)``).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from dnn_suite.run import allocator

#: what only torch itself can say, left out of ``capture(with_torch=False)``
TORCH_FIGURES = ("cuda", "cudnn", "cuda_available", "gpus", "torch_threads")


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvml_driver() -> dict[str, Any]:
    """Driver version and per-GPU memory from NVML, when a driver is there."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return {}
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        return {"driver": driver.decode() if isinstance(driver, bytes) else driver}
    except Exception:
        return {}
    finally:
        pynvml.nvmlShutdown()


def _gpus() -> list[dict[str, Any]]:
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append({
            "index": index,
            "name": props.name,
            "memory_bytes": props.total_memory,
            "compute_capability": f"{props.major}.{props.minor}",
            "multiprocessors": props.multi_processor_count,
        })
    return gpus


def _torch_figures() -> dict[str, Any]:
    import torch

    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "gpus": _gpus(),
        "torch_threads": torch.get_num_threads(),
    }


def capture(with_torch: bool = True) -> dict[str, Any]:
    """The environment; ``with_torch=False`` does not import torch: its version is its package's,
    the figures only torch can read (:data:`TORCH_FIGURES`) are None."""
    figures = _torch_figures() if with_torch else {"torch": _package_version("torch"),
                                                   **dict.fromkeys(TORCH_FIGURES)}
    return {
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "dnn_suite": _package_version("dnn-suite"),
        "torch": figures["torch"],
        "torchvision": _package_version("torchvision"),
        "cuda": figures["cuda"],
        "cudnn": figures["cudnn"],
        "cuda_available": figures["cuda_available"],
        "gpus": figures["gpus"],
        "nvidia_driver": _nvml_driver().get("driver"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": figures["torch_threads"],
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "allocator": allocator.in_force(),
    }


def format_environment(env: dict[str, Any]) -> str:
    read = env["cuda_available"] is not None  # None: captured without torch
    cuda = (f"{env['cuda'] or 'none'} (cuDNN {env['cudnn'] or 'none'}, available: {env['cuda_available']})" if read
            else "not read (torch not imported)")
    threads = f", torch threads {env['torch_threads']}" if read else ""
    lines = [
        f"OS           {env['os']}",
        f"Python       {env['python']}",
        f"dnn-suite    {env['dnn_suite']}",
        f"torch        {env['torch']} (torchvision {env['torchvision']})",
        f"CUDA         {cuda}",
        f"driver       {env['nvidia_driver'] or 'none'}",
        f"CPU          {env['cpu']} ({env['cpu_count']} cores, {env['cpu_affinity']} usable{threads})",
    ]
    for gpu in env["gpus"] or ():
        lines.append(f"GPU {gpu['index']}        {gpu['name']}, {gpu['memory_bytes'] / 2**30:.1f} GiB, "
                     f"compute capability {gpu['compute_capability']}")
    if not read:
        lines.append("GPU          not read (torch not imported)")
    elif not env["gpus"]:
        lines.append("GPU          none")
    return "\n".join(lines)
