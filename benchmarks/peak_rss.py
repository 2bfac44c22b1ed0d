"""Peak resident memory of a training run, this project vs effdet, each side in its own process.

Each child process builds one side (sides.py: D0 at 512, batch 4, 20 classes, fp32, the same
batch every step), runs ``--steps`` training steps and reports its peak RSS (``ru_maxrss``),
plus the peak before the first step (imports, model, optimizer, batch), so that the cost of
training itself can be told from that of the libraries. The parent starts the children
alternately (ABBA) and reports medians and the ratio ours/effdet (target <= 1.0).

Both sides run eager fp32 in the same memory format, one row per format (``--modes``): both
channels_last (the headline: each side's fastest eager mode; compiling changes what is resident,
so compiled modes are not compared here), then both NCHW.

    .venv/bin/python benchmarks/peak_rss.py [--quick] [--rounds N] [--steps N] [--threads N]
        [--modes eager,nchw]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import ab
import sides

TARGET = 1.0


def child(side: str, mode: str, variant: str, size: int, batch: int, steps: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    build = sides.ours_train if side == "ours" else sides.effdet_train
    run = build(variant, size, batch, **sides.MODES[mode].options())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for _ in range(steps):
        run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"side": side, "peak_bytes": peak, "before_training_bytes": before}))


def measure(side: str, mode: str, args) -> dict:
    command = [sys.executable, str(Path(__file__)), "--child", side, "--mode", mode, "--variant", args.variant,
               "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
               "--steps", str(args.steps), "--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=4, quick_rounds=2)
    p.add_argument("--variant", default="d0")
    p.add_argument("--image-size", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=None, help="training steps per process (default 4; --quick 2)")
    p.add_argument("--modes", default=None,
                   help="modes of sides.MODES, both sides alike, comma-separated (default eager,nchw; --quick eager)")
    p.add_argument("--child", choices=("ours", "effdet"), help=argparse.SUPPRESS)
    p.add_argument("--mode", default="eager", help=argparse.SUPPRESS)
    args = ab.parse(p, argv)
    args.steps = args.steps or (2 if args.quick else 4)
    if args.child:
        child(args.child, args.mode, args.variant, args.image_size, args.batch_size, args.steps, args.threads)
        return
    modes = (args.modes or ("eager" if args.quick else "eager,nchw")).split(",")
    results = ab.header("peak RSS of training: ours vs effdet (one process per side)", args, variant=args.variant,
                        image_size=args.image_size, batch_size=args.batch_size, steps=args.steps, target=TARGET,
                        modes=[sides.MODES[m].label() for m in modes])
    for mode in modes:
        compare_memory(results, args, mode, target=TARGET if mode == modes[0] else None)
    ab.finish(results, args)


def compare_memory(results: dict, args, mode: str, *, target: float | None) -> None:
    """Peak RSS of both sides in ``mode`` (one child process per measurement, ABBA), one recorded row."""
    label = sides.MODES[mode].label()
    figures: dict[str, list[dict]] = {"ours": [], "effdet": []}
    for r, order in ab.orders(["ours", "effdet"], args.rounds):
        for side in order:
            figures[side].append(measure(side, mode, args))
        print(f"  {label} round {r + 1}/{args.rounds}: " + ", ".join(
            f"{s} {figures[s][-1]['peak_bytes'] / 2**20:.0f} MiB" for s in ("ours", "effdet")), file=sys.stderr, flush=True)
    summary = {}
    for side, rows in figures.items():
        peak = ab.median([row["peak_bytes"] for row in rows]) / 2**20
        before = ab.median([row["before_training_bytes"] for row in rows]) / 2**20
        summary[side] = {"peak_mib": peak, "before_training_mib": before, "training_mib": peak - before,
                         "runs": rows}
        print(f"   {side:<8} peak {peak:8.0f} MiB (median of {len(rows)}), before the first step {before:6.0f} MiB, "
              f"added by training {peak - before:6.0f} MiB")
    ratio = summary["ours"]["peak_mib"] / summary["effdet"]["peak_mib"]
    ab.record(results, f"peak RSS ours/effdet, {args.variant} {args.image_size}px batch {args.batch_size}, "
              f"both {label}", ratio, target=target, unit="x", at_least=False, figures=summary,
              training_only_ratio=summary["ours"]["training_mib"] / summary["effdet"]["training_mib"],
              modes={"ours": sides.MODES[mode].describe(), "theirs": sides.MODES[mode].describe()})
    print(f"   added by training only: {summary['ours']['training_mib'] / summary['effdet']['training_mib']:.3f}x")


if __name__ == "__main__":
    main()
