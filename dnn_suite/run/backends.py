"""torch's global numeric and algorithm switches for a run, set from its configuration and
recorded in run.json as the values torch reports back.

* TF32: torch runs fp32 convolutions through cuDNN as TF32 by default (matmuls not), so an
  "fp32" run on Ampere or later would partly be a TF32 run. ``tf32`` (default off) sets both
  matmuls and cuDNN convolutions, so that fp32 means fp32 unless asked.
* ``cudnn_benchmark`` (default on): cuDNN times its convolution algorithms on the first call
  of each shape and keeps the fastest; a benchmark's fixed input size is the case it is for.
  The timing runs in the warmup iterations, outside the measured windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from dnn_suite.settings.resolve import RunConfig


def _set_tf32(enabled: bool) -> None:
    """torch >= 2.9 has per-backend ``fp32_precision``; mixing it with the older ``allow_tf32``
    flags is an error there, so one of the two APIs is used, never both."""
    precision = "tf32" if enabled else "ieee"
    if hasattr(torch.backends.cudnn, "conv") and hasattr(torch.backends.cudnn.conv, "fp32_precision"):
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
        if hasattr(torch.backends.cudnn, "rnn"):  # conv and rnn must agree for the legacy getter to work
            torch.backends.cudnn.rnn.fp32_precision = precision
    else:
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def effective() -> dict[str, Any]:
    """What torch reports now: TF32 for matmuls and cuDNN convolutions, cuDNN's mode."""
    if hasattr(torch.backends.cudnn, "conv") and hasattr(torch.backends.cudnn.conv, "fp32_precision"):
        matmul = torch.backends.cuda.matmul.fp32_precision == "tf32"
        conv = torch.backends.cudnn.conv.fp32_precision == "tf32"
    else:
        matmul, conv = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    return {
        "tf32_matmul": bool(matmul),
        "tf32_cudnn_conv": bool(conv),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


@contextmanager
def restored() -> Iterator[None]:
    """torch's switches that :func:`configure` sets, and its intra-op threads, as they were on
    entering (for the Python API, which leaves the caller's torch as it found it)."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if hasattr(cudnn, "conv") and hasattr(cudnn.conv, "fp32_precision"):
        switches = [cudnn.conv, matmul, *([cudnn.rnn] if hasattr(cudnn, "rnn") else [])]
        names = ["fp32_precision"]
    else:
        switches, names = [matmul, cudnn], ["allow_tf32"]
    saved = [(switch, name, getattr(switch, name)) for switch in switches for name in names]
    saved += [(cudnn, "benchmark", cudnn.benchmark), (cudnn, "deterministic", cudnn.deterministic)]
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        for switch, name, value in saved:
            setattr(switch, name, value)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def configure(config: RunConfig) -> dict[str, Any]:
    """Apply the run's TF32 and cuDNN settings; return the effective values for run.json."""
    _set_tf32(config.tf32)
    torch.backends.cudnn.benchmark = config.cudnn_benchmark
    return effective()
