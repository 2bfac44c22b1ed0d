"""The short table printed at the end of a run (model, throughput, step time, memory,
profilers' first metrics, where the results are)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnn_suite.metrics import readable


def format_summary(run: dict[str, Any], run_dir: Path | None) -> str:
    """The short table printed at the end of a run."""
    config, metrics = run["config"], run.get("metrics") or {}
    rows: list[tuple[str, str]] = [
        ("model", f"{config['model']} {config['variant']} (dataset {config['dataset']})"
                  + (f", {run['scenario']}" if run.get("scenario", "train") != "train" else "")),
        ("device", f"{run.get('device', config['device'])}, batch size {config['batch_size']}"),
        ("status", run["status"] + (f": {run['error']}" if run.get("error") else "")),
    ]
    world = metrics.get("distributed")
    if world:
        rows.append(("processes", f"{world['world_size']} ({world['backend']}), global batch size "
                                  f"{config['batch_size'] * world['world_size']}"))
    throughput = (metrics.get("throughput") or {}).get("value")
    if throughput is not None:
        rows.append(("throughput", f"{throughput:.2f} samples/s over {metrics['iterations']} iterations "
                                   f"({metrics['window_time_s']:.2f} s)"))
        step = metrics["step_time_s"]
        rows.append(("step time", f"mean {step['mean'] * 1e3:.1f} ms, median {step['median'] * 1e3:.1f} ms, "
                                  f"p90 {step['p90'] * 1e3:.1f} ms, CV {(step['cv'] or 0) * 100:.1f}%"))
        rows.append(("data loading", f"{(metrics['data_loading_share'] or 0) * 100:.1f}% of iteration time"))
        inference = metrics.get("inference")
        if inference:
            latency = inference["latency_s"]
            rows.append(("latency", f"per batch of {inference['batch_size']}: p50 {latency['p50'] * 1e3:.1f} ms, "
                                    f"p90 {latency['p90'] * 1e3:.1f} ms, p99 {latency['p99'] * 1e3:.1f} ms"))
        spread = metrics.get("throughput_spread")
        if spread:
            rows.append(("repeats", f"{len(metrics['windows'])} windows, throughput min {spread['min']:.2f} "
                                    f"max {spread['max']:.2f} CV {(spread['cv'] or 0) * 100:.1f}%"))
    compiled = metrics.get("compile")
    if compiled:
        rows.append(("compile", f"{compiled['mode']}: {compiled['compile_time_s']:.2f} s compiling "
                                f"({compiled['compilations']} compilations) in {compiled['warmup_iterations']} "
                                f"warmup iterations ({compiled['warmup_time_s']:.2f} s); "
                                f"{compiled['recompilations']} recompilations in the measured windows"))
    memory = metrics.get("memory") or {}
    if memory.get("max_rss_bytes"):
        text = f"max RSS {readable(memory['max_rss_bytes'], 'bytes')}"
        if world and memory.get("max_rss_bytes_all_ranks"):  # earlier records hold rank 0's alone
            per_rank = ", ".join(readable(r["memory"]["max_rss_bytes"], "bytes") for r in world["ranks"])
            text += (f" (rank 0); {readable(memory['max_rss_bytes_all_ranks'], 'bytes')} summed over "
                     f"{world['world_size']} ranks ({per_rank})")
        if memory.get("cuda_max_allocated_bytes") is not None:
            text += (f", CUDA allocated {readable(memory['cuda_max_allocated_bytes'], 'bytes')}"
                     f" / reserved {readable(memory['cuda_max_reserved_bytes'], 'bytes')}")
        rows.append(("peak memory", text))
    for name, report in (run.get("profilers") or {}).items():
        if report.get("error"):
            rows.append((name, f"error: {report['error']}"))
            continue
        metrics_shown = {k: v for k, v in (report.get("metrics") or {}).items() if not k.startswith("warning.")}
        shown = list(metrics_shown.items())[:4]
        rows.append((name, "; ".join(f"{k} {_format_value(v)}" for k, v in shown) or "no metrics"))
        rows += [(name, f"warning: {v.get('description', k)}") for k, v in (report.get("metrics") or {}).items()
                 if k.startswith("warning.")]
    if run.get("evaluation"):
        shown = [(k, v) for k, v in run["evaluation"].items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)][:4]
        rows.append(("evaluation", ", ".join(f"{k} {v}" if isinstance(v, int) else f"{k} {v:.4f}" for k, v in shown)))
    rows += [("warning", warning) for warning in run.get("warnings") or []]
    # where each --log-to logger sent the run (its run id, its folder), or its error
    rows += [(name, ", ".join(f"{key} {value}" for key, value in where.items()))
             for name, where in (run.get("loggers") or {}).items()]
    if run_dir is not None:
        rows.append(("results", str(run_dir)))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def _format_value(metric: dict[str, Any]) -> str:
    return readable(metric.get("value"), metric.get("unit", ""))
