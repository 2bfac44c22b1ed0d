"""From the figures to findings: what bounds the step, the evidence, and the fix.

Each rule reads figures computed elsewhere in this package and fires above a threshold (the
constants below). A finding's ``impact`` estimates the share of step time at stake; findings are
ranked by it. The rules, their thresholds and fixes are documented in
docs/profilers/trace-analysis.md ("The diagnosis").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INPUT_SHARE = 0.10
IDLE_PCT = 20.0
HOST_WAIT_SHARE = 0.50
SYNC_SHARE = 0.05
ELIGIBLE_SHARE = 0.20
ON_TENSOR_CORES = 0.50
LAYOUT_SHARE = 0.03
EXPOSED_COMM_SHARE = 0.10
SMALL_KERNEL_NS = 20_000
SM_EFFICIENCY_PCT = 60.0
OCCUPANCY_PCT = 30.0
STRAGGLER_SPREAD = 0.10


@dataclass(frozen=True)
class Finding:
    finding: str
    impact: float
    evidence: str
    rule: str
    fix: str

    def row(self, rank: int) -> dict[str, Any]:
        return {"rank": rank, "finding": self.finding, "impact": round(self.impact, 4), "evidence": self.evidence,
                "rule": self.rule, "fix": self.fix}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def diagnose(f: dict[str, Any]) -> list[dict[str, Any]]:
    """``f``: the figures of one analysis (see :func:`..analyze_timelines`), with ``None`` where
    the trace lacks the data; a rule whose figures are missing does not fire."""
    found: list[Finding] = []
    loader = f.get("step.dataloader_share")
    if loader is not None and loader >= INPUT_SHARE:
        found.append(Finding("input-bound", loader, f"the data loader takes {_pct(loader)} of the step",
                             f"step.dataloader_share >= {INPUT_SHARE}",
                             "more loader processes (--workers N), pinned memory, a faster data format"))
    idle, host_wait = f.get("idle_pct"), f.get("idle_host_wait_share")
    if idle is not None and host_wait is not None and idle >= IDLE_PCT and host_wait >= HOST_WAIT_SHARE:
        found.append(Finding("launch-bound", idle / 100 * host_wait,
                             f"the GPU is idle {idle:.1f}% of its span, {_pct(host_wait)} of it waiting for the host "
                             "to launch work",
                             f"gpu idle_pct >= {IDLE_PCT} and idle_host_wait_share >= {HOST_WAIT_SHARE}",
                             "torch.compile of the model (fewer, fused kernels; mode reduce-overhead uses CUDA "
                             "graphs), a larger batch (--batch-size)"))
    sync = f.get("sync_share")
    if sync is not None and sync >= SYNC_SHARE:
        found.append(Finding("synchronization-bound", sync,
                             f"{f.get('sync_calls_per_step', 0):.1f} host-device synchronizations per step take "
                             f"{_pct(sync)} of it", f"sync_share >= {SYNC_SHARE}",
                             "--timing deferred (the default: no wait per step) and a larger --log-every; no "
                             ".item()/.cpu()/print of tensors inside the step"))
    eligible, on_tc = f.get("tensor_core_eligible_share"), f.get("eligible_on_tensor_cores_share")
    if eligible is not None and on_tc is not None and eligible >= ELIGIBLE_SHARE and on_tc < ON_TENSOR_CORES:
        found.append(Finding("precision", eligible * (1 - on_tc),
                             f"tensor-core-eligible operators launch {_pct(eligible)} of kernel time, "
                             f"only {_pct(on_tc)} of it on tensor cores",
                             f"tensor_core_eligible_share >= {ELIGIBLE_SHARE} and eligible_on_tensor_cores_share "
                             f"< {ON_TENSOR_CORES}",
                             "--amp --amp-dtype bfloat16 (or float16); TF32 matmuls for float32"))
    layout = f.get("layout_conversion_share")
    if layout is not None and layout >= LAYOUT_SHARE:
        found.append(Finding("memory-format", layout, f"layout conversion kernels take {_pct(layout)} of kernel time",
                             f"layout_conversion_share >= {LAYOUT_SHARE}",
                             "--channels-last for convolutional models (or drop it where the model converts back)"))
    exposed = f.get("exposed_comm_share")
    if exposed is not None and exposed >= EXPOSED_COMM_SHARE:
        found.append(Finding("exposed-communication", exposed,
                             f"communication with no computation beside it takes {_pct(exposed)} of the step",
                             f"exposed_comm_share >= {EXPOSED_COMM_SHARE}",
                             "a larger batch per GPU, gradient bucketing (DDP bucket_cap_mb), overlapping "
                             "collectives with the backward pass"))
    median, sm_eff, occupancy = f.get("median_kernel_ns"), f.get("sm_efficiency_pct"), f.get("achieved_occupancy_pct")
    low = (sm_eff is not None and sm_eff < SM_EFFICIENCY_PCT) or (occupancy is not None and occupancy < OCCUPANCY_PCT)
    if median is not None and median < SMALL_KERNEL_NS and low:
        measure = sm_eff if sm_eff is not None else occupancy
        found.append(Finding("small-kernels", (100 - measure) / 100 * 0.5,
                             f"the median kernel runs {median / 1000:.1f} us; estimated SM efficiency "
                             f"{_fmt(sm_eff)}%, achieved occupancy {_fmt(occupancy)}%",
                             f"median_kernel_ns < {SMALL_KERNEL_NS} and (sm_efficiency_pct < {SM_EFFICIENCY_PCT} "
                             f"or achieved_occupancy_pct < {OCCUPANCY_PCT})",
                             "a larger batch (--batch-size), torch.compile of the model (fuses small kernels)"))
    spread = f.get("step_time_spread")
    if spread is not None and spread >= STRAGGLER_SPREAD:
        found.append(Finding("straggler", spread,
                             f"mean step times differ by {_pct(spread)} across ranks; rank {f.get('slowest_rank')} "
                             "is the slowest", f"step_time_spread >= {STRAGGLER_SPREAD}",
                             f"look at rank {f.get('slowest_rank')}'s data, host and GPU; balance the input"))
    found.sort(key=lambda item: -item.impact)
    return [item.row(position) for position, item in enumerate(found, 1)]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"
