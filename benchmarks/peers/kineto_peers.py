"""What the peer kineto-trace analyzers say about the real traces in tests/profilers/fixtures/kineto/real/.

Two peers, each through its own public API:

* HolisticTraceAnalysis (``hta.trace_analysis.TraceAnalysis``): temporal breakdown, idle time
  breakdown, communication/computation overlap, CUDA kernel launch statistics, queue length
  summary and GPU kernel breakdown, per rank (and per stream where HTA reports so);
* torch-tb-profiler (the TensorBoard plugin): the trace loaded as its ``RunLoader`` loads one worker
  file (``RunProfileData.parse`` then ``RunGenerator.generate_run_profile``), and the overview's
  step-time breakdown (per step and the average), GPU utilization, est. SM efficiency, est.
  achieved occupancy and tensor core use per device, and its recommendations.

Besides each peer as it is ("hta", "torch_tb_profiler"), two variants that take away the
differences by design between the peers and our analyzer (docs/profilers/trace-analysis.md):

* "hta_exact": HTA with its own env option HTA_DISABLE_NS_ROUNDING=1, so fractional-us
  timestamps are not rounded inward to whole microseconds;
* "tb_normalized": TB on a normalized copy of each file, written to a temporary directory:
  events of cat cuda_runtime/cuda_driver get cat "Runtime" (the only runtime category TB 0.4.3
  knows), user_annotation events named enumerate(DataLoader)#...__next__ get cat "cpu_op" (TB
  counts DataLoader time only from operators), gpu_user_annotation events are removed (TB would
  make a ProfilerStep#N one an extra step). peers.json's "variants" records this, and each file's
  "normalization_counts" how many events each change touched.

The figures go to tests/profilers/fixtures/kineto/real/peers.json, where a test of our analyzer
can compare against them; PEERS.md beside it says how each peer computes each figure.

This script is never imported by the suite and does not run in the project's venv: the peers
live in a venv of their own, outside the repository:

    python3.11 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install holistictraceanalysis==0.5.0 torch-tb-profiler==0.4.3
    /work/peers-venv/bin/python benchmarks/peers/kineto_peers.py [--out FILE] [TRACE_OR_RANK_DIR ...]

Without arguments it reads the fixtures; every path given is added (a file: one trace; a
directory: its *.json / *.json.gz files, one per rank, analyzed together as HTA does). Where a
peer fails on a trace, its error text is recorded in place of the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import math
import os
import platform
import re
import shlex
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "profilers" / "fixtures" / "kineto" / "real"
# (name in peers.json, files: one per rank)
DEFAULT_SETS = [
    ("resnet_v100_rank0", ["resnet_v100_rank0.pt.trace.json.gz"]),
    ("two_ranks", ["two_ranks/sampled_rank-0.json.gz", "two_ranks/sampled_rank-1.json.gz"]),
    ("mi250_rocm", ["mi250_rocm.json.gz"]),
    ("alexnet_a100", ["alexnet_a100.json.gz"]),
]
TOP_KERNELS = 10
# HTA's option (hta/configs/env_options.py: HTA_DISABLE_NS_ROUNDING_ENV) that switches off its
# rounding of fractional-us timestamps inward to whole us (trace_parser.round_down_time_stamps)
HTA_NO_ROUNDING_ENV = "HTA_DISABLE_NS_ROUNDING"
# the normalization of a trace before "tb_normalized": see normalize_for_tb
TB_RUNTIME_CATS = ("cuda_runtime", "cuda_driver")
TB_DATALOADER_RE = re.compile(r"^enumerate\(DataLoader\)#.*\.__next__$")
TB_NORMALIZATION = {
    "recategorized_as_Runtime": {"cat": list(TB_RUNTIME_CATS), "new_cat": "Runtime",
                                 "why": "TB 0.4.3 maps only the category 'runtime' (lower-cased) to its Runtime "
                                        "type and drops cuda_runtime/cuda_driver events"},
    "recategorized_as_cpu_op": {"cat": "user_annotation", "name_regex": TB_DATALOADER_RE.pattern,
                                "new_cat": "cpu_op",
                                "why": "TB counts DataLoader time only from Operator (cpu_op) events of that "
                                       "name and drops other user_annotation events"},
    "removed": {"cat": "gpu_user_annotation",
                "why": "TB turns a gpu_user_annotation named ProfilerStep#N into an extra step; "
                       "steps are to come from the host ProfilerStep ranges only"},
    "unchanged": "every other event and field, byte for byte as json.loads/json.dump give them; the file keeps "
                 "its name (in a temporary directory) and is written uncompressed if it was plain JSON, gzipped "
                 "if .gz",
}


# ----------------------------------------------------------------------------- helpers


def plain(value: Any) -> Any:
    """JSON-safe: numpy/pandas scalars to Python, NaN/inf to None, tuples and keys to lists/strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def records(df) -> list[dict[str, Any]]:
    """A DataFrame as a list of row dicts; its index is kept as columns, MultiIndex columns joined by '.'."""
    if df is None:
        return None
    df = df.copy()
    if hasattr(df.columns, "levels"):
        df.columns = [".".join(str(part) for part in col if str(part)) for col in df.columns]
    # a named index (idle category, rank/stream) is data; an unnamed one is only row numbers
    df = df.reset_index(drop=all(name is None for name in df.index.names))
    return [plain(row) for row in df.to_dict(orient="records")]


def error_text(exc: BaseException) -> dict[str, str]:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return {"error": f"{type(exc).__name__}: {exc}", "raised_at": where}


def attempt(fn, *args, **kwargs) -> Any:
    """fn(...) or {'error': ...}: a peer's failure is a result, not a reason to stop."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure of a peer is recorded
        return error_text(exc)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


@contextlib.contextmanager
def quiet():
    """The peers print progress and warnings; keep them (they are stderr's), but away from stdout."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


# ----------------------------------------------------------------------------- HTA


def hta_all(files: list[Path]) -> dict[str, Any]:
    from hta.trace_analysis import TraceAnalysis

    with tempfile.TemporaryDirectory(prefix="hta-") as folder:
        # TraceAnalysis(trace_dir=...) as documented: it reads each file's rank from its distributedInfo
        for i, path in enumerate(files):
            os.symlink(path.resolve(), Path(folder) / f"{i}-{path.name}")
        analysis = TraceAnalysis(trace_dir=folder)
        ranks = analysis.t.get_ranks()
        out: dict[str, Any] = {
            "ranks": ranks,
            "rank_files": {str(r): Path(analysis.t.trace_files[r]).name.split("-", 1)[1] for r in ranks},
            "iterations_kept": {str(r): plain(analysis.t.get_iterations(r)) for r in ranks},
            "rows_kept": {str(r): int(len(analysis.t.get_trace(r))) for r in ranks},
        }
        out["temporal_breakdown"] = attempt(lambda: records(analysis.get_temporal_breakdown(visualize=False)))
        out["idle_time_breakdown"] = attempt(idle_breakdown, analysis, ranks)
        out["comm_comp_overlap"] = attempt(lambda: records(analysis.get_comm_comp_overlap(visualize=False)))
        out["cuda_kernel_launch_stats"] = attempt(launch_stats, analysis, ranks)
        out["queue_length_summary"] = attempt(lambda: records(analysis.get_queue_length_summary(ranks=ranks)))
        out["gpu_kernel_breakdown"] = attempt(kernel_breakdown, analysis)
    return out


@contextlib.contextmanager
def env_set(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def hta_exact(files: list[Path]) -> dict[str, Any]:
    """hta_all with HTA's ns rounding switched off by its own env option (hta/configs/env_options.py)."""
    with env_set(HTA_NO_ROUNDING_ENV, "1"):
        from hta.configs import env_options

        assert env_options.disable_ns_rounding(), "HTA did not take its option"
        return hta_all(files)


def idle_breakdown(analysis, ranks: list[int]) -> dict[str, Any]:
    delay = 30  # TraceAnalysis.get_idle_time_breakdown's default consecutive_kernel_delay
    by_stream, stats = analysis.get_idle_time_breakdown(ranks=ranks, visualize=False, show_idle_interval_stats=True,
                                                       consecutive_kernel_delay=delay)
    return {"consecutive_kernel_delay": delay, "by_rank_stream": records(by_stream),
            "idle_interval_stats": records(stats)}


def launch_stats(analysis, ranks: list[int]) -> dict[str, Any]:
    runtime_cutoff, launch_delay_cutoff = 50, 100  # the defaults
    per_rank = analysis.get_cuda_kernel_launch_stats(ranks=ranks, runtime_cutoff=runtime_cutoff,
                                                     launch_delay_cutoff=launch_delay_cutoff, visualize=False)
    out: dict[str, Any] = {"runtime_cutoff": runtime_cutoff, "launch_delay_cutoff": launch_delay_cutoff, "ranks": {}}
    for rank, df in per_rank.items():
        summary: dict[str, Any] = {"count": int(len(df))}
        for column in ("cpu_duration", "gpu_duration", "launch_delay"):
            s = df[column]
            summary[column] = plain({"sum": s.sum(), "mean": s.mean(), "median": s.median(), "min": s.min(),
                                     "max": s.max()}) if len(df) else None
        summary["gpu_shorter_than_cpu"] = int((df["gpu_duration"] < df["cpu_duration"]).sum())
        summary["runtime_outliers"] = int((df["cpu_duration"] > runtime_cutoff).sum())
        summary["launch_delay_outliers"] = int((df["launch_delay"] > launch_delay_cutoff).sum())
        out["ranks"][str(rank)] = summary
    return out


def kernel_breakdown(analysis) -> dict[str, Any]:
    # TraceAnalysis's defaults: include_memory_kernels=True, duration_ratio=0.8, num_kernels=10
    kernel_type, kernels = analysis.get_gpu_kernel_breakdown(visualize=False, num_kernels=TOP_KERNELS)
    without_memory, _ = analysis.get_gpu_kernel_breakdown(visualize=False, num_kernels=TOP_KERNELS,
                                                         include_memory_kernels=False)
    return {"num_kernels": TOP_KERNELS, "duration_ratio": 0.8, "include_memory_kernels": True,
            "kernel_type": records(kernel_type), "kernel_type_without_memory_kernels": records(without_memory),
            "top_kernels": records(kernels)}


# ----------------------------------------------------------------------------- torch-tb-profiler


def tb_one(path: Path) -> dict[str, Any]:
    from torch_tb_profiler import consts
    from torch_tb_profiler.profiler import data as tb_data
    from torch_tb_profiler.profiler.event_parser import ProfileRole
    from torch_tb_profiler.profiler.gpu_metrics_parser import GPUMetricsParser
    from torch_tb_profiler.profiler.overall_parser import OverallParser
    from torch_tb_profiler.profiler.run_generator import RunGenerator

    # Observe (not change) the step ranges and the span the GPU metrics use: they are locals of
    # RunProfileData.process, passed to these two calls.
    seen: dict[str, Any] = {}
    aggregate, parse_events = OverallParser.aggregate, GPUMetricsParser.parse_events.__func__

    def spy_aggregate(self, steps, role_ranges):
        seen["steps"] = [list(s) for s in steps]
        return aggregate(self, steps, role_ranges)

    def spy_parse_events(cls, events, global_start, global_end, steps_start, steps_end):
        seen["gpu_metrics_span"] = {"global_start": global_start, "global_end": global_end,
                                    "steps_start": steps_start, "steps_end": steps_end}
        return parse_events(cls, events, global_start, global_end, steps_start, steps_end)

    OverallParser.aggregate, GPUMetricsParser.parse_events = spy_aggregate, classmethod(spy_parse_events)
    try:
        with tempfile.TemporaryDirectory(prefix="tb-") as cache:
            worker = consts.WORKER_PATTERN.match(path.name)
            profile = tb_data.RunProfileData.parse(worker.group(1) if worker else path.name, None, str(path), cache)
            run = RunGenerator(profile.worker, profile.span, profile).generate_run_profile()
    finally:
        OverallParser.aggregate, GPUMetricsParser.parse_events = aggregate, classmethod(parse_events)
    roles = [role.name for role in ProfileRole]

    def costs(c) -> dict[str, Any]:
        return plain(dict(zip(roles, c.costs)))

    gpu = profile.gpu_metrics_parser
    devices = {}
    for gpu_id in sorted(gpu.gpu_ids):
        devices[str(gpu_id)] = plain({
            "gpu_utilization": gpu.gpu_utilization[gpu_id],
            "est_sm_efficiency": gpu.avg_approximated_sm_efficiency_per_device[gpu_id],
            "est_achieved_occupancy_pct": gpu.avg_occupancy_per_device[gpu_id],
            "tc_ratio": profile.tc_ratio[gpu_id] if profile.tc_ratio else None,
            "kernels_with_blocks_per_sm": gpu.blocks_per_sm_count[gpu_id],
            "kernels_with_occupancy": gpu.occupancy_count[gpu_id],
        })
    overview = run.overview or {}
    return {
        "plugin_would_list_file": bool(consts.WORKER_PATTERN.match(path.name)),
        "has_runtime": profile.has_runtime,
        "has_kernel": profile.has_kernel,
        "has_memcpy_or_memset": profile.has_memcpy_or_memset,
        "has_communication": profile.has_communication,
        "comm_lib": sorted(lib.name for lib in profile.comm_lib),
        "used_devices": plain(profile.used_devices),
        "steps": [{"name": name, "range": plain(rng), "costs": costs(c)}
                  for name, rng, c in zip(profile.steps_names, seen.get("steps", [[None, None]] * 10**6),
                                          profile.steps_costs)],
        "average": costs(profile.avg_costs),
        "overview_average_rows": plain(overview["performance"][0]["children"] if overview.get("performance") else None),
        "comm_overlap_per_step": [plain(vars(c)) for c in profile.comm_overlap_costs or []],
        "gpu_metrics_span": plain(seen.get("gpu_metrics_span")),
        "devices": devices,
        "tc_used_ratio": plain(profile.tc_used_ratio),
        "tc_eligible_ops_kernel_ratio": plain(profile.tc_eligible_ops_kernel_ratio),
        "gpu_summary": plain(run.gpu_summary),
        "recommendations": list(profile.recommendations),
        "recommendations_html": overview.get("recommendations"),
    }


def load_trace(path: Path) -> Any:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def normalize_for_tb(path: Path, folder: Path) -> tuple[Path, dict[str, int]]:
    """A copy of the trace in folder, normalized as TB_NORMALIZATION says; the counts of each change."""
    trace = load_trace(path)
    counts = {"recategorized_as_Runtime": 0, "recategorized_as_cpu_op": 0, "removed": 0}
    kept = []
    for event in trace.get("traceEvents", []):
        cat = event.get("cat") if isinstance(event, dict) else None
        if cat in TB_RUNTIME_CATS:
            event["cat"] = "Runtime"
            counts["recategorized_as_Runtime"] += 1
        elif cat == "user_annotation" and TB_DATALOADER_RE.match(str(event.get("name", ""))):
            event["cat"] = "cpu_op"
            counts["recategorized_as_cpu_op"] += 1
        elif cat == "gpu_user_annotation":
            counts["removed"] += 1
            continue
        kept.append(event)
    trace["traceEvents"] = kept
    out = folder / path.name
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(out, "wt") as f:
        json.dump(trace, f)
    return out, counts


def tb_normalized(path: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tbnorm-") as folder:
        copy, counts = normalize_for_tb(path, Path(folder))
        figures = attempt(tb_one, copy)
    return {"normalization_counts": counts, **(figures if isinstance(figures, dict) else {"result": figures})}


# ----------------------------------------------------------------------------- main


def trace_sets(paths: list[str]) -> list[tuple[str, list[Path]]]:
    sets = [(name, [FIXTURES / f for f in files]) for name, files in DEFAULT_SETS]
    for given in paths:
        p = Path(given)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.name.endswith((".json", ".json.gz")))
            sets.append((p.name, files))
        else:
            sets.append((p.name, [p]))
    return sets


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", help="more traces: a file, or a directory of one file per rank")
    p.add_argument("--out", type=Path, default=FIXTURES / "peers.json", help="where to write (default: %(default)s)")
    args = p.parse_args(argv)

    command = shlex.join([sys.executable, sys.argv[0] if argv is None else display(Path(__file__)),
                          *(sys.argv[1:] if argv is None else argv)])
    result: dict[str, Any] = {
        "about": "Figures of the peer analyzers for the kineto traces here; PEERS.md says how each is computed. "
                 "Times are in the traces' unit, microseconds; HTA rounds ns-resolution (float) timestamps to "
                 "whole microseconds first (ts up, end down).",
        "command": command,
        "cwd": str(Path.cwd()),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "python": platform.python_version(),
        "peers": {
            "hta": {"package": "holistictraceanalysis", "version": metadata.version("holistictraceanalysis")},
            "torch_tb_profiler": {"package": "torch-tb-profiler", "version": metadata.version("torch-tb-profiler")},
        },
        "variants": {
            "hta": "HTA as it is by default (ns timestamps rounded inward to whole us)",
            "torch_tb_profiler": "TB on the trace file as it is",
            "hta_exact": f"HTA with its env option {HTA_NO_ROUNDING_ENV}=1: no rounding, the trace's float us kept",
            "tb_normalized": {"what": "TB on a normalized copy of each trace file (in a temporary directory); "
                                      "normalization_counts per file says how many events each change touched",
                              "normalization": TB_NORMALIZATION},
        },
        "libraries": {name: metadata.version(name) for name in ("pandas", "numpy")},
        "traces": {},
    }
    for name, files in trace_sets(args.paths):
        print(f"== {name}", file=sys.stderr, flush=True)
        entry: dict[str, Any] = {
            "files": [{"path": display(f), "sha256": sha256(f), "bytes": f.stat().st_size} for f in files],
        }
        with quiet():
            entry["hta"] = attempt(hta_all, files)
            entry["torch_tb_profiler"] = {display(f): attempt(tb_one, f) for f in files}
            entry["hta_exact"] = attempt(hta_exact, files)
            entry["tb_normalized"] = {display(f): attempt(tb_normalized, f) for f in files}
        result["traces"][name] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    print(f"written: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
