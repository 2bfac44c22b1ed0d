"""Where the GPU time goes: one analysis of a GPU timeline, whatever tool recorded it.

Readers (kineto, nsys, nvprof) build :class:`.model.Timeline` objects; :func:`analyze_timelines`
computes every figure from them, each defined once in its module, after the peer whose
definition it follows:

==================  ===================================================  =======================
module              figures                                              definition of
==================  ===================================================  =======================
:mod:`.hta`         ``gpuN.idle_pct``/``compute_pct``/``non_compute_pct``,  HTA
                    ``gpuN.idle_host_wait_share``/``kernel_wait``/``other``
:mod:`.steps`       ``step.<category>_share``, phases                    TensorBoard's plugin
:mod:`.gpu_metrics` ``gpuN.utilization_pct``/``sm_efficiency_pct``/       TensorBoard's plugin
                    ``achieved_occupancy_pct``
:mod:`.kernels`     kernel categories, tensor cores, launches, syncs,    TensorBoard, HTA, ours
                    top kernels with their operators
:mod:`.ranks`       communication overlap, step spread across ranks      HTA, ours
:mod:`.operators`   a CPU run's operator self time by category           ours
:mod:`.diagnosis`   the ranked findings and their fixes                  ours
==================  ===================================================  =======================

A timeline of several ranks gets each rank's figures under ``rankR.``; the diagnosis covers all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dnn_suite.metrics import Metric

from ..base import Analysis, Row
from . import hta, kernels, operators, ranks, steps
from .diagnosis import diagnose
from .gpu_metrics import gpu_metrics
from .model import CPU_OP, Timeline

STEP_DESCRIPTIONS = {
    "kernel": "kernels (not communication)",
    "memcpy": "memory copies not hidden by kernels",
    "memset": "memory sets not hidden by the above",
    "communication": "collectives not hidden by the above",
    "runtime": "CUDA/HIP runtime calls with the GPU otherwise idle",
    "dataloader": "data loading with the GPU and runtime idle",
    "cpu_exec": "CPU operators with nothing above running",
    "other": "none of the above",
}


def analyze_timelines(timelines: list[Timeline], *, source: Path, top: int = 20) -> Analysis:
    """The figures, tables and diagnosis of one or more ranks' timelines."""
    several = len(timelines) > 1
    metrics: dict[str, Metric] = {}
    tables: dict[str, list[Row]] = {}
    warnings: list[str] = []
    findings: list[dict[str, Any]] = []
    mean_steps: dict[int, float] = {}
    for position, timeline in enumerate(timelines):
        rank = timeline.rank if timeline.rank is not None else position
        prefix = f"rank{rank}." if several else ""
        figures, rank_metrics, rank_tables = _one(timeline, top)
        metrics.update({prefix + key: metric for key, metric in rank_metrics.items()})
        for name, rows in rank_tables.items():
            tables.setdefault(name, []).extend(({"rank": rank, **row} if several else row) for row in rows)
        warnings.extend(timeline.warnings)
        if figures.get("step_ns") is not None:
            mean_steps[rank] = figures["step_ns"]
        for finding in diagnose(figures):
            findings.append({**finding, "evidence": (f"rank {rank}: " if several else "") + finding["evidence"]})
    spread = ranks.step_spread(mean_steps)
    if spread:
        metrics["ranks.step_time_spread"] = Metric(100 * spread["step_time_spread"], "%",
                                                   "(slowest - fastest) / mean of the ranks' mean step times")
        metrics["ranks.slowest_rank"] = Metric(spread["slowest_rank"], "rank", "the rank with the longest mean step")
        tables["ranks"] = [{"rank": r, "mean_step_ns": v} for r, v in sorted(mean_steps.items())]
        findings.extend(diagnose(spread))
    tables["diagnosis"] = _rank_findings(findings)
    tool = timelines[0].tool if timelines else "kineto"
    return Analysis(tool=tool, source=source, metrics=metrics, tables=tables, warnings=warnings)


def _rank_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per finding (the rank where it weighs most), ranked by impact."""
    best: dict[str, dict[str, Any]] = {}
    for finding in findings:
        if finding["finding"] not in best or finding["impact"] > best[finding["finding"]]["impact"]:
            best[finding["finding"]] = finding
    ordered = sorted(best.values(), key=lambda f: -f["impact"])
    return [{**f, "rank": i} for i, f in enumerate(ordered, 1)]


def _one(timeline: Timeline, top: int) -> tuple[dict[str, Any], dict[str, Metric], dict[str, list[Row]]]:
    metrics: dict[str, Metric] = {}
    tables: dict[str, list[Row]] = {}
    figures: dict[str, Any] = {}
    found = steps.find_steps(timeline)
    steps.breakdown(timeline, found)
    if found.spans:
        shares = found.shares()
        figures.update({f"step.{k}_share": v for k, v in shares.items()})
        figures["step_ns"] = found.average["total"]
        metrics["step.count"] = Metric(len(found.spans), "steps",
                                       "profiler steps analysed" + (f" ({found.dropped} cut short left out)"
                                                                    if found.dropped else ""))
        metrics["step.time"] = Metric(found.average["total"], "ns", "mean step time" + (
            " (on the device: until the work it launched ended)" if found.on_device else ""))
        for key, value in shares.items():
            metrics[f"step.{key}_share"] = Metric(value, "fraction", STEP_DESCRIPTIONS[key])
        tables["step_breakdown"] = [{"step": name, **{f"{k}_ns": v for k, v in row.items()}}
                                    for name, row in zip(found.names, found.breakdown)]
        phase_rows = steps.phases(timeline, found)
        if phase_rows:
            tables["phases"] = phase_rows
            for row in phase_rows:
                metrics[f"phase.{row['phase']}.host_share"] = Metric(row["host_share"], "fraction",
                                                                     "host time of the phase / step time")
    if len(timeline.gpu) == 0:
        metrics["gpu_activity"] = Metric(0, "operations", "no GPU activity in this trace (a CPU-only run)")
        categories = operators.operator_categories(timeline)
        for row in categories:
            metrics[f"cpu.{row['category']}_share"] = Metric(row["share"], "fraction",
                                                              f"{row['category']} share of CPU operators' self time")
        tables["cpu_operator_categories"] = categories
        tables["top_operators"] = _cpu_operators(timeline, top)
        return figures, metrics, tables

    kept = hta.kept_operations(timeline)
    temporal = hta.temporal_breakdown(timeline, kept)
    idle, idle_rows = hta.idle_breakdown(timeline, kept)
    span = (found.spans[0][0], found.spans[-1][1]) if found.spans else (int(timeline.gpu.start.min()),
                                                                         int(timeline.gpu.end.max()))
    tb = gpu_metrics(timeline, *span)
    per_device: list[Row] = []
    for device in sorted(set(temporal) | set(tb)):
        row: Row = {"device": device, **{k: v for k, v in timeline.devices.get(device, {}).items() if k == "name"}}
        t = temporal.get(device)
        if t is not None:
            row.update(idle_pct=t.pct(t.idle_ns), compute_pct=t.pct(t.compute_ns),
                       non_compute_pct=t.pct(t.non_compute_ns), span_ns=t.span_ns)
        i = idle.get(device)
        if i is not None:
            row.update(idle_host_wait_share=i.share(i.host_wait_ns), idle_kernel_wait_share=i.share(i.kernel_wait_ns),
                       idle_other_share=i.share(i.other_ns))
        row.update(tb.get(device, {}))
        per_device.append(row)
        for key, value in row.items():
            if key in ("device", "name", "span_ns"):
                continue
            unit = "%" if key.endswith("_pct") else "fraction"
            metrics[f"gpu{device}.{key}"] = Metric(value, unit, DEVICE_DESCRIPTIONS[key])
    tables["per_device"] = per_device
    tables["idle_by_stream"] = idle_rows
    main = max(per_device, key=lambda r: r.get("compute_pct") or 0.0)
    figures.update({k: main.get(k) for k in ("idle_pct", "idle_host_wait_share", "sm_efficiency_pct",
                                             "achieved_occupancy_pct")})

    k = kernels.kernel_tables(timeline, kept, top)
    figures.update(k["figures"])
    tables["kernel_categories"] = k["categories"]
    tables["top_kernels"] = k["top"]
    for key in ("tensor_core_share", "tensor_core_eligible_share", "eligible_on_tensor_cores_share",
                "layout_conversion_share"):
        metrics[f"kernels.{key}"] = Metric(k["figures"][key], "fraction", KERNEL_DESCRIPTIONS[key])
    metrics["kernels.median_duration"] = Metric(k["figures"]["median_kernel_ns"], "ns", "median kernel duration")
    for row in k["categories"]:
        metrics[f"kernels.{row['category']}_share"] = Metric(row["share"], "fraction",
                                                              f"{row['category']} share of GPU operation time")
    launch = kernels.launch_statistics(timeline, kept)
    for key, value in launch.items():
        metrics[f"launch.{key.removesuffix('_ns')}"] = Metric(value, "ns" if key.endswith("_ns") else "operations",
                                                               LAUNCH_DESCRIPTIONS[key])
    sync = kernels.synchronizations(timeline, found.spans)
    figures.update(sync)
    metrics["sync.calls_per_step"] = Metric(sync["sync_calls_per_step"], "calls",
                                            "host-device synchronizations per step")
    metrics["sync.time_per_step"] = Metric(sync["sync_time_per_step_ns"], "ns", "time in them per step")
    comm = ranks.communication_overlap(timeline, kept, found)
    figures.update(comm)
    if comm["comm_time_ns"]:
        metrics["comm.overlap_share"] = Metric(comm["comm_overlap_share"], "fraction",
                                               "communication time overlapped by computation")
        metrics["comm.exposed_share"] = Metric(comm["exposed_comm_share"], "fraction",
                                               "communication with no computation beside it / step time")
    return figures, metrics, tables


def _cpu_operators(timeline: Timeline, top: int) -> list[Row]:
    host = timeline.host
    ops = np.flatnonzero(host.kind == CPU_OP)
    if not ops.size:
        return []
    ids, inverse = np.unique(host.name[ops], return_inverse=True)
    sums = np.bincount(inverse, weights=(host.end - host.start)[ops])
    counts = np.bincount(inverse)
    order = np.argsort(-sums)[:top]
    return [{"time_ns": int(sums[i]), "calls": int(counts[i]), "name": timeline.names[int(ids[i])]}
            for i in order.tolist()]


DEVICE_DESCRIPTIONS = {
    "idle_pct": "HTA: no GPU operation running, % of the span first to last operation",
    "compute_pct": "HTA: computation kernels running, % of the span",
    "non_compute_pct": "HTA: only copies, sets, communication running, % of the span",
    "idle_host_wait_share": "HTA: idle time waiting for the host to launch, share of idle time",
    "idle_kernel_wait_share": "HTA: idle gaps between back-to-back kernels, share of idle time",
    "idle_other_share": "HTA: other idle time, share of idle time",
    "utilization_pct": "TensorBoard: kernels running, % of the steps' span",
    "sm_efficiency_pct": "TensorBoard: estimated SM efficiency over the steps' span",
    "achieved_occupancy_pct": "TensorBoard: estimated achieved occupancy, kernel-time weighted",
}
KERNEL_DESCRIPTIONS = {
    "tensor_core_share": "kernel time in tensor-core kernels",
    "tensor_core_eligible_share": "kernel time launched by tensor-core-eligible operators",
    "eligible_on_tensor_cores_share": "of that, the share running on tensor cores",
    "layout_conversion_share": "kernel time in memory-layout conversion kernels",
}
LAUNCH_DESCRIPTIONS = {
    "launch_delay_mean_ns": "kernel start - end of its launch call, mean",
    "launch_delay_median_ns": "the same, median",
    "launch_delay_p90_ns": "the same, 90th percentile",
    "launch_call_mean_ns": "duration of a launch call, mean",
    "queue_length_mean": "operations queued on the stream at a launch, mean",
    "queue_length_max": "operations queued on the stream at a launch, max",
}
