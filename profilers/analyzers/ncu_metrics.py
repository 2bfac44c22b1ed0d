"""Nsight Compute metric names: which to collect for GPU core utilization on which GPU.

The original benchmark measured, per kernel, the percentage of peak instruction issue of the
FMA, FP16, Tensor and SFU (``xu``) pipes over elapsed cycles, and weighted kernels by
``gpc__cycles_elapsed.max``. The FP16 and Tensor pipes differ between architectures:

* CC 7.0 - 8.0 (Volta, Turing, GA100): a separate FP16 pipe, ``sm__inst_executed_pipe_fp16``;
  tensor ``sm__inst_executed_pipe_tensor``.
* CC 8.6 - 8.9 (GA10x, Ada): FP16x2 instructions are issued to the FMA pipes, so fp16 is
  ``sm__inst_executed_pipe_fma_type_fp16`` (the FP16 share of the FMA pipe); tensor as above.
* CC 9.0 and newer (Hopper; Blackwell assumed): fp16 as for 8.6; tensor work is split into
  hmma/gmma/imma/dmma sub-pipes, so tensor is ``sm__pipe_tensor_cycles_active``, which covers
  all of them.

FMA is ``sm__inst_executed_pipe_fma`` and SFU ``sm__inst_executed_pipe_xu`` everywhere. All use
the ``.avg.pct_of_peak_sustained_elapsed`` roll-up so that weighting by elapsed cycles is exact.

Sources: NVIDIA's answer on the developer forum thread "Separate CUDA core pipeline for FP16
and FP32" (GA100: FP16 shares the pipe of Tensor and FP64; GA10x and GH100: FP16x2 is issued to
the FMA-heavy and FMA-lite pipes), and published ``ncu`` pipe metrics of an H100 kernel, which
include ``sm__inst_executed_pipe_fma_type_fp16``, ``sm__inst_executed_pipe_tensor_op_{hmma,gmma,
imma,dmma}`` and ``sm__pipe_tensor_cycles_active`` but not ``sm__inst_executed_pipe_fp16``. Not
verified on a device: the tensor name for 9.0 and everything for Blackwell (10.x, 12.x). Check the
names on the target with ``ncu --query-metrics --chips <chip>``, :func:`parse_query_metrics` and
:func:`missing_metrics` before profiling.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from dnn_suite.errors import RunFailed

CYCLES_METRIC = "gpc__cycles_elapsed.max"
DURATION_METRIC = "gpu__time_duration.sum"
CORE_TYPES = {"fma": "FMA", "fp16": "FP16", "tensor": "Tensor", "sfu": "SFU (xu)"}  # core type -> label
_ELAPSED = ".avg.pct_of_peak_sustained_elapsed"

# (key, metric, description) of the optional metrics analyzed when present.
EXTRA_METRICS = (
    ("sm_throughput", "sm__throughput.avg.pct_of_peak_sustained_elapsed", "SM throughput, % of peak"),
    ("achieved_occupancy", "sm__warps_active.avg.pct_of_peak_sustained_active", "achieved occupancy"),
    ("dram_throughput", "dram__throughput.avg.pct_of_peak_sustained_elapsed", "DRAM throughput, % of peak"),
    ("tensor_pipe_active", "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active", "tensor pipe active"),
    ("fma_pipe_active", "sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active", "FMA pipe active"),
)

#: One representative of each row of the table above (and the Blackwell variants), with its
#: ncu chip name (``ncu --query-metrics --chips CHIP``).
CHIPS = {(7, 0): "gv100", (7, 5): "tu102", (8, 0): "ga100", (8, 6): "ga102", (8, 9): "ad102", (9, 0): "gh100",
         (10, 0): "gb100", (12, 0): "gb202"}
KNOWN_COMPUTE_CAPABILITIES = tuple(CHIPS)

_METRIC_LINE = re.compile(r"^\s*([a-z0-9]+__[a-z0-9_]+)")


def core_utilization_metrics(compute_capability: tuple[int, int]) -> dict[str, str]:
    """Core type (``fma``, ``fp16``, ``tensor``, ``sfu``) -> ncu metric, for a GPU of this CC."""
    if compute_capability < (7, 0):
        major, minor = compute_capability
        raise RunFailed(
            f"GPU core utilization with Nsight Compute needs compute capability 7.0 (Volta) or newer; "
            f"this GPU has {major}.{minor}"
        )
    fp16 = "sm__inst_executed_pipe_fp16" if compute_capability <= (8, 0) else "sm__inst_executed_pipe_fma_type_fp16"
    tensor = "sm__inst_executed_pipe_tensor" if compute_capability < (9, 0) else "sm__pipe_tensor_cycles_active"
    return {
        "fma": "sm__inst_executed_pipe_fma" + _ELAPSED,
        "fp16": fp16 + _ELAPSED,
        "tensor": tensor + _ELAPSED,
        "sfu": "sm__inst_executed_pipe_xu" + _ELAPSED,
    }


def chip_of(compute_capability: tuple[int, int]) -> str:
    """The ncu chip of the architecture row ``compute_capability`` falls in (its nearest
    known capability at or below), for ``ncu --query-metrics --chips``."""
    known = [cc for cc in CHIPS if cc <= compute_capability] or [min(CHIPS)]
    return CHIPS[max(known)]


def profiling_metrics(compute_capability: tuple[int, int], extras: bool = False) -> list[str]:
    """The ``ncu --metrics`` list: core utilization, the cycle weights, optionally the extras."""
    names = [*core_utilization_metrics(compute_capability).values(), CYCLES_METRIC]
    if extras:
        names += [metric for _, metric, _ in EXTRA_METRICS] + [DURATION_METRIC]
    return names


def core_metric_candidates() -> dict[str, tuple[str, ...]]:
    """Every name a core type has on some architecture, to read logs whose GPU is unknown."""
    return {
        core: tuple(dict.fromkeys(core_utilization_metrics(cc)[core] for cc in KNOWN_COMPUTE_CAPABILITIES))
        for core in CORE_TYPES
    }


def parse_query_metrics(text: str) -> set[str]:
    """Base metric names listed by ``ncu --query-metrics`` (one metric per line, name first)."""
    return {m.group(1) for m in map(_METRIC_LINE.match, text.splitlines()) if m}


def missing_metrics(names: Iterable[str], available: set[str]) -> list[str]:
    """The metrics in ``names`` whose base name (before the first ``.``) is not ``available``."""
    return [name for name in names if name.split(".", 1)[0] not in available]
