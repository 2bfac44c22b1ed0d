"""Alternating A/B timing shared by the side-by-side benchmark scripts in this directory.

Every comparison runs its sides in one process (or one parent process that starts children),
alternating them round by round in ABBA order (A B, B A, A B, ...) so that drift in machine
load hits both sides alike, and reports per side the median and the minimum, and the ratio of
the medians against a target. The ratio is also given as the median of the per-round ratios
(each round's two sides ran back to back), which is the steadier figure on a shared machine.

Scripts import this module as ``ab`` (they run as ``python benchmarks/NAME.py``, which puts this
directory first on ``sys.path``) and the repository root is added so that the plugin imports
without installation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# OpenMP's wait policy is left as the environment sets it: unset, libgomp spins a while at each
# barrier before sleeping, which is what a user of either library gets. The dnn-suite CLI sets
# PASSIVE (dnn_suite/cli.py); that helps on a loaded machine but slows effdet's training step
# far more than ours (docs/performance/index.md), so it is not imposed on both sides here. Run a
# script with OMP_WAIT_POLICY=PASSIVE to measure that case.
#
# glibc malloc's policy for freed memory is, likewise, glibc's own unless --allocator kept asks for
# what the dnn-suite CLI does by default (dnn_suite/run/allocator.py), so published figures stay
# comparable. Either way it holds for the whole process, both sides, and its children.

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dnn_suite.run import allocator  # noqa: E402


# ----------------------------------------------------------------------------- setup


def parser(description: str, *, rounds: int, quick_rounds: int) -> argparse.ArgumentParser:
    """An argument parser with the options every script has: --quick, --rounds, --threads, --json."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"a short run ({quick_rounds} rounds, fewer configurations)")
    p.add_argument("--rounds", type=int, default=None, help=f"alternation rounds (default {rounds})")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads for both sides (default: torch's default, the core count)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]; on CUDA each call ends synchronized")
    p.add_argument("--amp", action="store_true",
                   help="autocast on both sides: fp16 (+ GradScaler when training) on CUDA, bf16 on the CPU")
    p.add_argument("--allocator", type=allocator.policy_named, choices=allocator.POLICIES,
                   default=allocator.RETURNED,
                   help="glibc malloc for the whole process, both sides and their children: returned (glibc's own, "
                        "the default here) or kept (freed memory kept for reuse, as the dnn-suite CLI does)")
    p.set_defaults(default_rounds=rounds, quick_rounds=quick_rounds)
    return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = p.parse_args(argv)
    allocator.apply(args.allocator)
    if args.rounds is None:
        args.rounds = args.quick_rounds if args.quick else args.default_rounds
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    return args


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine() -> dict[str, Any]:
    """What the figures were measured on; the load average says whether others were using the machine."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or "unset (libgomp default)",
        "allocator": allocator.in_force(),
        "load_average_1_5_15": load_average(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def header(title: str, args: argparse.Namespace, **settings: Any) -> dict[str, Any]:
    info = machine()
    print(f"== {title}")
    print(f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, {info['threads']} threads, "
          f"OMP_WAIT_POLICY={info['omp_wait_policy']}, allocator {info['allocator']['policy']} (mmap threshold "
          f"{info['allocator']['mmap_threshold'] or 'glibc default'}), load average {info['load_average_1_5_15']} "
          "(1/5/15 min)")
    if settings:
        print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(f"rounds: {args.rounds} (sides alternate ABBA; medians, minimums, ratios of medians and median per-round ratios)",
          flush=True)
    return {"title": title, "machine": info, "settings": settings, "rounds": args.rounds, "comparisons": []}


# ----------------------------------------------------------------------------- timing


@dataclass
class Side:
    """One side of a comparison: ``run()`` does one unit of work; ``items`` per run (images, samples).

    ``run`` may return a float: the seconds it measured itself (e.g. a child process reporting
    its own window); otherwise the wall time of the call is used.
    """

    name: str
    run: Callable[[], Any]
    items: float = 1.0
    times: list[float] = field(default_factory=list)

    def once(self) -> float:
        start = time.perf_counter()
        reported = self.run()
        elapsed = time.perf_counter() - start
        return float(reported) if isinstance(reported, (int, float)) and not isinstance(reported, bool) else elapsed


def orders(items: Sequence[Any], rounds: int):
    """``(round, items in this round's order)``: as given in even rounds, reversed in odd ones (ABBA)."""
    for r in range(rounds):
        yield r, (list(items) if r % 2 == 0 else list(reversed(items)))


def alternate(sides: Sequence[Side], rounds: int, *, warmup: int = 1, label: str = "") -> None:
    """Run ``warmup`` untimed calls of each side, then ``rounds`` timed ones, alternating ABBA."""
    for side in sides:
        for _ in range(warmup):
            side.once()
    for r, order in orders(sides, rounds):
        for side in order:
            side.times.append(side.once())
        shown = ", ".join(f"{s.name} {s.times[-1]:.3f}s" for s in sides)
        print(f"  {label}round {r + 1}/{rounds}: {shown}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def speedup(ours: Side, theirs: Side) -> dict[str, float]:
    """Throughput ratio ours/theirs (>1: ours faster), from medians and from paired rounds."""
    per_item_ours = [t / ours.items for t in ours.times]
    per_item_theirs = [t / theirs.items for t in theirs.times]
    paired = [b / a for a, b in zip(per_item_ours, per_item_theirs)]
    return {
        "ratio_of_medians": median(per_item_theirs) / median(per_item_ours),
        "median_of_round_ratios": median(paired),
        "ratio_of_minimums": min(per_item_theirs) / min(per_item_ours),
    }


def side_figures(side: Side, unit: str) -> dict[str, Any]:
    med = median(side.times)
    return {"name": side.name, "median_s": med, "min_s": min(side.times), "max_s": max(side.times),
            "n": len(side.times), "items_per_call": side.items, f"{unit}_per_s_median": side.items / med,
            f"{unit}_per_s_best": side.items / min(side.times), "times_s": side.times}


def verdict(ratio: float, target: float, *, at_least: bool = True) -> str:
    met = ratio >= target if at_least else ratio <= target
    sign = ">=" if at_least else "<="
    if met:
        return f"target {sign} {target:g}x: met"
    gap = (target / ratio - 1) if at_least else (ratio / target - 1)
    return f"target {sign} {target:g}x: MISSED by {gap * 100:.1f}%"


def compare(results: dict[str, Any], name: str, ours: Side, theirs: Side, *, target: float | None,
            unit: str = "items") -> dict[str, Any]:
    """Print both sides and their ratio against ``target``; record them in ``results``."""
    ratios = speedup(ours, theirs)
    entry = {"name": name, "ours": side_figures(ours, unit), "theirs": side_figures(theirs, unit), **ratios,
             "target": target}
    print(f"-- {name}")
    for side in (ours, theirs):
        f = side_figures(side, unit)
        print(f"   {side.name:<34} median {f['median_s']:8.3f} s  min {f['min_s']:8.3f} s  "
              f"-> {f[f'{unit}_per_s_median']:8.3f} {unit}/s (best {f[f'{unit}_per_s_best']:.3f})")
    line = (f"   ratio {ratios['ratio_of_medians']:.3f}x (medians), {ratios['median_of_round_ratios']:.3f}x "
            f"(median of rounds), {ratios['ratio_of_minimums']:.3f}x (minimums)")
    if target is not None:
        line += f"; {verdict(ratios['median_of_round_ratios'], target)}"
    print(line, flush=True)
    results["comparisons"].append(entry)
    return entry


def record(results: dict[str, Any], name: str, value: float, *, target: float | None, unit: str,
           at_least: bool = True, **extra: Any) -> dict[str, Any]:
    """A figure that is not a timed A/B pair (a memory ratio, a rate ratio): print and record it."""
    line = f"-- {name}: {value:.3f} {unit}"
    if target is not None:
        line += f"; {verdict(value, target, at_least=at_least)}"
    print(line, flush=True)
    entry = {"name": name, "value": value, "unit": unit, "target": target, "at_least": at_least, **extra}
    results["comparisons"].append(entry)
    return entry


def finish(results: dict[str, Any], args: argparse.Namespace) -> None:
    results["machine"]["load_average_at_end"] = load_average()
    results["machine"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"load average at the end: {results['machine']['load_average_at_end']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=float))
        print(f"figures written to {args.json}")
