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


def configure(config: RunConfig) -> dict[str, Any]:
    """Apply the run's TF32 and cuDNN settings; return the effective values for run.json."""
    _set_tf32(config.tf32)
    torch.backends.cudnn.benchmark = config.cudnn_benchmark
    return effective()
