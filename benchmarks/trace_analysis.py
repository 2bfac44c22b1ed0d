"""How fast, and in how much memory, ``dnn-suite analyze`` reads a kineto trace, against HTA.

Each side is a whole process, timed from its start to its exit, with its peak resident memory
(``ru_maxrss`` of that child and what it waited for, from ``os.wait4`` in a small launcher
process, so that this process's memory does not count; the launcher's ~20 ms are in both sides' times):

* ours: ``dnn-suite analyze TRACE --json`` (the ``dnn-suite`` of this venv, or ``--dnn-suite``);
* HTA (HolisticTraceAnalysis 0.5.0, in a venv of its own, ``--peers-python``): a script that
  builds ``TraceAnalysis(trace_dir=...)`` (parse and load) and calls ``get_temporal_breakdown``
  and ``get_idle_time_breakdown``, both ``visualize=False``: the two HTA figures that
  ``dnn-suite analyze`` also gives (it gives more).

The sides alternate ABBA for ``--rounds`` rounds on each trace: the real ResNet trace
(tests/profilers/fixtures/kineto/real/resnet_v100_rank0.pt.trace.json.gz, 1.1 MB gzipped, 15.4 MB
of JSON, 5 ProfilerSteps on a V100) and larger ones made from it (``--sizes``, MB of JSON,
10^6 bytes): its ProfilerSteps repeated, each copy shifted past the end of the previous one in
time, with its ids (correlation, External id, flow ids, Ev Idx, Sequence number) offset and its
steps renumbered, written as uncompressed ``.pt.trace.json`` to a temporary folder (or
``--keep-traces DIR``, where traces of the right size are reused). Before each trace's rounds
the file is read once so that both sides find it in the page cache.

Per trace and side: median wall time and peak RSS, MB/s (trace MB of JSON per second) and peak
MB per trace MB; the ratios HTA/ours of time (>1: ours faster) and of peak RSS (>1: ours
smaller). A side that fails is reported with its exit status and the tail of its stderr; the
other side's figures are kept.

    python -m venv /work/peers-venv && /work/peers-venv/bin/pip install holistictraceanalysis==0.5.0
    .venv/bin/python benchmarks/trace_analysis.py [--rounds N] [--sizes 50,200,500]
        [--peers-python /work/peers-venv/bin/python] [--dnn-suite PATH] [--keep-traces DIR]
        [--timeout S] [--json FILE]

The 500 MB case takes minutes per HTA run on 2 cores and several GB of memory.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import ab

REPO = Path(__file__).resolve().parent.parent
REAL = REPO / "tests" / "profilers" / "fixtures" / "kineto" / "real" / "resnet_v100_rank0.pt.trace.json.gz"
DEFAULT_JSON = REPO / "docs" / "performance" / "trace_analysis.json"
DEFAULT_PEERS_PYTHON = "/work/peers-venv/bin/python"
MB = 1e6

# The HTA side, run by the peers' python: argv[1] is a folder holding the one trace.
HTA_CHILD = r"""
import json, sys
from hta.trace_analysis import TraceAnalysis
analysis = TraceAnalysis(trace_dir=sys.argv[1])
temporal = analysis.get_temporal_breakdown(visualize=False)
idle, _ = analysis.get_idle_time_breakdown(visualize=False)
print(json.dumps({"temporal": json.loads(temporal.to_json(orient="records")),
                  "idle": json.loads(idle.to_json(orient="records"))}))
"""

GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset", "cuda_sync", "gpu_user_annotation"}
ID_ARGS = ("correlation", "External id", "Ev Idx", "Sequence number", "Python id", "Python parent id")


# ----------------------------------------------------------------------------- the large traces


def _load(path: Path) -> dict[str, Any]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        return json.load(f)


def step_template(trace: dict[str, Any]) -> dict[str, Any]:
    """The events of the trace's ProfilerSteps: what one copy repeats.

    Host events wholly inside [first step start, last step end]; the GPU events (kernels,
    copies, sets, syncs) and ac2g flows of the runtime calls among them (by correlation); the
    GPU-side annotations of the host annotations among them (by External id); fwdbwd flows whose
    both ends are among them. Metadata (``ph`` M) and the profiler's span are left to the header.
    """
    events = trace["traceEvents"]
    steps = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("user_annotation", "cpu_op")
             and str(e.get("name", "")).startswith("ProfilerStep#")]
    if not steps:
        raise SystemExit("the trace to repeat has no ProfilerStep#N annotation")
    start = min(e["ts"] for e in steps)
    end = max(e["ts"] + e["dur"] for e in steps)
    host, correlations, external_ids = [], set(), set()
    for e in events:
        if e.get("ph") != "X" or e.get("cat") in GPU_CATS or e.get("cat") == "Trace":
            continue
        if start <= e["ts"] and e["ts"] + e.get("dur", 0) <= end:
            host.append(e)
            args = e.get("args", {})
            if "correlation" in args:
                correlations.add(args["correlation"])
            if "External id" in args:
                external_ids.add(args["External id"])
    device, flows, fwdbwd = [], [], {}
    for e in events:
        cat, args = e.get("cat"), e.get("args", {})
        if e.get("ph") == "X" and cat in GPU_CATS:
            if (cat == "gpu_user_annotation" and args.get("External id") in external_ids) or \
                    (cat != "gpu_user_annotation" and args.get("correlation") in correlations):
                device.append(e)
        elif cat == "ac2g" and e.get("id") in correlations:
            flows.append(e)
        elif cat == "fwdbwd" and start <= e["ts"] <= end:
            fwdbwd.setdefault(e.get("id"), []).append(e)
    flows += [e for pair in fwdbwd.values() if len({x.get("ph") for x in pair}) == 2 for e in pair]
    copy = host + device + flows
    last_end = max(e["ts"] + e.get("dur", 0) for e in copy)
    ids = [e["args"][k] for e in copy for k in ID_ARGS if isinstance(e.get("args", {}).get(k), int)]
    ids += [e["id"] for e in flows if isinstance(e.get("id"), int)]
    numbers = [int(e["name"].split("#", 1)[1]) for e in steps]
    return {
        "events": sorted(copy, key=lambda e: e["ts"]),
        "start": start,
        # whole microseconds, so that shifting keeps the fractional (ns) part of float stamps exact
        "period": math.ceil(last_end - start) + 1000,
        "id_stride": 10 ** len(str(max(ids, default=0) + 1)),
        "first_step": min(numbers),
        "steps": len(steps),
    }


def _shifted(e: dict[str, Any], template: dict[str, Any], copy: int) -> dict[str, Any]:
    e = dict(e)
    e["ts"] = e["ts"] + copy * template["period"]
    if isinstance(e.get("id"), int):
        e["id"] = e["id"] + copy * template["id_stride"]
    args = e.get("args")
    if args:
        args = dict(args)
        for key in ID_ARGS:
            if isinstance(args.get(key), int) and args[key] >= 0:
                args[key] = args[key] + copy * template["id_stride"]
        e["args"] = args
    name = e.get("name")
    if isinstance(name, str) and name.startswith("ProfilerStep#"):
        e["name"] = f"ProfilerStep#{int(name.split('#', 1)[1]) + copy * template['steps']}"
    return e


def write_repeated(source: Path, target: Path, size_mb: float) -> dict[str, Any]:
    """Write ``target``: ``source``'s ProfilerSteps repeated until the JSON is at least ``size_mb`` MB."""
    trace = _load(source)
    template = step_template(trace)
    metadata = [e for e in trace["traceEvents"] if e.get("ph") == "M"]
    per_copy = sum(len(json.dumps(e)) + 2 for e in template["events"])
    copies = max(1, math.ceil(size_mb * MB / per_copy))
    header = {k: v for k, v in trace.items() if k != "traceEvents"}
    # distributedInfo first: HTA finds a file's rank by reading it line by line until '"rank": N'
    order = ["schemaVersion", "distributedInfo"] + [k for k in header if k not in ("schemaVersion", "distributedInfo")]
    span_start = template["start"] - 1
    span = {"ph": "X", "cat": "Trace", "ts": span_start, "dur": copies * template["period"] + 2,
            "pid": "Spans", "tid": "PyTorch Profiler", "name": "PyTorch Profiler (0)", "args": {"Op count": 0}}
    tmp = target.with_suffix(target.suffix + ".part")
    events = 0
    with open(tmp, "w") as f:
        f.write("{\n")
        for key in order:
            if key in header:
                f.write(f"  {json.dumps(key)}: {json.dumps(header[key])},\n")
        f.write('  "traceEvents": [\n')
        first = True
        for e in [*metadata, span]:
            f.write(("" if first else ",\n") + "  " + json.dumps(e))
            first = False
            events += 1
        for copy in range(copies):
            f.write(",\n" + ",\n".join("  " + json.dumps(_shifted(e, template, copy)) for e in template["events"]))
            events += len(template["events"])
        f.write("\n  ]\n}\n")
    tmp.replace(target)
    return {"path": str(target), "generated_from": str(source.relative_to(REPO)) if source.is_relative_to(REPO)
            else str(source), "copies": copies, "steps": copies * template["steps"], "events": events,
            "json_bytes": target.stat().st_size}


# ----------------------------------------------------------------------------- one process


# A child forked from this process starts with this process's resident memory in its peak RSS
# (Linux keeps the forked image's high-water mark through exec), and this process holds the
# generated traces: each side is started by a fresh, small launcher instead, which reports its
# child's own peak RSS in the file named by its first argument.
LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_process(command: list[str], workdir: Path, timeout: float) -> dict[str, Any]:
    """Run ``command`` to its end: wall seconds, peak RSS of the child (and what it waited for), status."""
    out_path, err_path, rss_path = workdir / "stdout", workdir / "stderr", workdir / "peak_rss_kib"
    rss_path.unlink(missing_ok=True)
    executable = shutil.which(command[0]) or command[0]
    launched = [sys.executable, "-S", "-c", LAUNCHER, str(rss_path), executable, *command[1:]]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        child = subprocess.Popen(launched, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    peak_kib = int(rss_path.read_text()) if rss_path.is_file() else usage.ru_maxrss
    result = {"wall_s": wall, "peak_rss_bytes": peak_kib * 1024, "returncode": child.returncode,
              "stdout_bytes": out_path.stat().st_size}
    if timed_out.is_set():
        result["error"] = f"killed after the {timeout:g} s timeout"
    elif child.returncode != 0:
        tail = err_path.read_bytes()[-2000:].decode(errors="replace").strip()
        result["error"] = f"exit status {child.returncode}: ...{tail[-1500:]}"
    result["stdout_path"] = out_path
    return result


def ours_command(dnn_suite: str, trace: Path) -> list[str]:
    return [dnn_suite, "analyze", str(trace), "--json"]


def hta_command(python: str, trace_dir: Path) -> list[str]:
    return [python, "-c", HTA_CHILD, str(trace_dir)]


def hta_figures(stdout: Path) -> Any:
    lines = stdout.read_text(errors="replace").strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


# ----------------------------------------------------------------------------- main


def find_dnn_suite(given: str | None) -> str | None:
    if given:
        return given
    beside = Path(sys.executable).parent / "dnn-suite"
    return str(beside) if beside.exists() else shutil.which("dnn-suite")


def json_bytes(path: Path) -> int:
    if not path.name.endswith(".gz"):
        return path.stat().st_size
    with gzip.open(path, "rb") as f:
        return sum(len(chunk) for chunk in iter(lambda: f.read(1 << 20), b""))


def warm_cache(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def summary(runs: list[dict[str, Any]], trace_mb: float) -> dict[str, Any] | None:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return None
    wall = ab.median([r["wall_s"] for r in ok])
    peak = ab.median([r["peak_rss_bytes"] for r in ok])
    return {"runs_ok": len(ok), "median_wall_s": wall, "min_wall_s": min(r["wall_s"] for r in ok),
            "median_peak_rss_mb": peak / MB, "max_peak_rss_mb": max(r["peak_rss_bytes"] for r in ok) / MB,
            "mb_per_s": trace_mb / wall, "peak_mb_per_trace_mb": peak / MB / trace_mb}


def measure_trace(results: dict[str, Any], name: str, path: Path, info: dict[str, Any], args, work: Path) -> None:
    trace_mb = info["json_bytes"] / MB
    print(f"-- {name}: {path.name}, {trace_mb:.1f} MB of JSON ({path.stat().st_size / MB:.1f} MB on disk)", flush=True)
    hta_dir = work / f"hta-{name}"  # TraceAnalysis reads every trace in a folder: give it this one alone
    hta_dir.mkdir(exist_ok=True)
    link = hta_dir / path.name
    if not link.exists():
        os.symlink(path.resolve(), link)
    sides = {}
    if args.dnn_suite:
        sides["ours"] = ours_command(args.dnn_suite, path)
    if args.peers_python:
        sides["hta"] = hta_command(args.peers_python, hta_dir)
    warm_cache(path)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for r, order in ab.orders(list(sides), args.rounds):
        for side in order:
            outcome = run_process(sides[side], work, args.timeout)
            if side == "hta" and "error" not in outcome:
                figures = hta_figures(outcome["stdout_path"])
                entry_figures = results.setdefault("hta_figures", {})
                entry_figures.setdefault(name, figures)
            outcome.pop("stdout_path")
            runs[side].append(outcome)
        shown = ", ".join(f"{s} {runs[s][-1]['wall_s']:.2f}s {runs[s][-1]['peak_rss_bytes'] / MB:.0f}MB"
                          + (" FAILED" if "error" in runs[s][-1] else "") for s in sides)
        print(f"  round {r + 1}/{args.rounds}: {shown}", file=sys.stderr, flush=True)
    commands = {side: [part if part != HTA_CHILD else "<HTA_CHILD, in settings>" for part in command]
                for side, command in sides.items()}
    entry = {"trace": name, "info": info, "trace_mb": trace_mb, "commands": commands, "runs": runs,
             "summary": {side: summary(runs[side], trace_mb) for side in sides}}
    for side in sides:
        s = entry["summary"][side]
        if s is None:
            print(f"   {side:<5} FAILED: {runs[side][0].get('error', '')[:300]}")
        else:
            print(f"   {side:<5} median {s['median_wall_s']:8.2f} s  peak {s['median_peak_rss_mb']:8.0f} MB  "
                  f"{s['mb_per_s']:7.2f} MB/s  {s['peak_mb_per_trace_mb']:6.2f} peak MB per trace MB")
    ours, hta = entry["summary"].get("ours"), entry["summary"].get("hta")
    if ours and hta:
        paired = [h["wall_s"] / o["wall_s"] for o, h in zip(runs["ours"], runs["hta"])
                  if "error" not in o and "error" not in h]
        entry["ratios_hta_over_ours"] = {
            "time_ratio_of_medians": hta["median_wall_s"] / ours["median_wall_s"],
            "time_median_of_round_ratios": ab.median(paired) if paired else None,
            "peak_rss_ratio_of_medians": hta["median_peak_rss_mb"] / ours["median_peak_rss_mb"],
        }
        ratios = entry["ratios_hta_over_ours"]
        print(f"   ratio HTA/ours: time {ratios['time_ratio_of_medians']:.2f}x (medians), "
              f"{ratios['time_median_of_round_ratios']:.2f}x (median of rounds); "
              f"peak RSS {ratios['peak_rss_ratio_of_medians']:.2f}x", flush=True)
    results["comparisons"].append(entry)


def main(argv: list[str] | None = None) -> None:
    p = ab.parser(__doc__, rounds=3, quick_rounds=1)
    p.add_argument("--sizes", default=None,
                   help="MB of JSON of the traces made by repeating the real one's steps, comma-separated "
                        "(default 50,200,500; --quick 50; empty: none)")
    p.add_argument("--no-real", action="store_true", help="leave out the real 15 MB trace")
    p.add_argument("--source", type=Path, default=REAL, help="the trace whose steps are repeated (default: %(default)s)")
    p.add_argument("--peers-python", default=os.environ.get("PEERS_PYTHON", DEFAULT_PEERS_PYTHON),
                   help="python of the venv with holistictraceanalysis==0.5.0 (default $PEERS_PYTHON or %(default)s); "
                        "'' leaves HTA out")
    p.add_argument("--dnn-suite", default=None, help="the dnn-suite to run (default: the one beside this python); "
                                                       "'' leaves ours out")
    p.add_argument("--keep-traces", type=Path, default=None,
                   help="write the large traces here and keep them (reused when of the requested size)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one process may run (default %(default)s)")
    p.set_defaults(json=DEFAULT_JSON)
    args = ab.parse(p, argv)
    sizes_text = args.sizes if args.sizes is not None else ("50" if args.quick else "50,200,500")
    sizes = [float(s) for s in sizes_text.split(",") if s.strip()]
    args.dnn_suite = find_dnn_suite(args.dnn_suite) if args.dnn_suite != "" else None
    if args.peers_python and not Path(args.peers_python).exists():
        print(f"no HTA: {args.peers_python} does not exist (see the docstring to make the peers' venv)", file=sys.stderr)
        args.peers_python = None
    if not args.dnn_suite:
        print("no dnn-suite found: only HTA is measured", file=sys.stderr)

    results = ab.header("trace analysis: dnn-suite analyze vs HTA TraceAnalysis, whole processes", args,
                        sizes_mb=sizes_text, source=str(args.source), dnn_suite=args.dnn_suite,
                        peers_python=args.peers_python, timeout_s=args.timeout)
    results["settings"]["HTA_CHILD"] = HTA_CHILD
    if args.peers_python:
        version = subprocess.run([args.peers_python, "-c", "from importlib import metadata; "
                                  "print(metadata.version('holistictraceanalysis'), metadata.version('pandas'))"],
                                 capture_output=True, text=True)
        results["settings"]["hta_and_pandas_versions"] = version.stdout.strip() or version.stderr.strip()[-300:]

    with tempfile.TemporaryDirectory(prefix="trace-analysis-") as tmp:
        work = Path(tmp)
        traces_dir = args.keep_traces or work / "traces"
        traces_dir.mkdir(parents=True, exist_ok=True)
        if not args.no_real:
            info = {"path": str(args.source), "json_bytes": json_bytes(args.source), "generated_from": None}
            measure_trace(results, "real", args.source, info, args, work)
        for size in sizes:
            target = traces_dir / f"repeated_{size:g}MB.pt.trace.json"
            meta = target.with_name(target.name + ".info.json")
            if target.exists() and meta.exists():
                info = json.loads(meta.read_text())
                print(f"reusing {target}", file=sys.stderr)
            else:
                started = time.perf_counter()
                info = write_repeated(args.source, target, size)
                info["generation_s"] = time.perf_counter() - started
                meta.write_text(json.dumps(info))
                print(f"generated {target.name}: {info['json_bytes'] / MB:.1f} MB, {info['copies']} copies, "
                      f"{info['steps']} steps, {info['events']} events in {info['generation_s']:.1f} s",
                      file=sys.stderr, flush=True)
            measure_trace(results, f"{size:g}MB", target, info, args, work)
            if not args.keep_traces:
                target.unlink()
                meta.unlink()
    ab.finish(results, args)


if __name__ == "__main__":
    main()
