"""Harness overhead: ``dnn-suite run efficientdet`` throughput vs a bare hand-written loop.

Both sides train the same model on the same data in a process of their own, started
alternately (ABBA): the synthetic dataset under one data root, the default loader (2 workers,
shuffling with seed 0, drop_last), the plugin's model (channels_last by default), SGD recipe and
training step, ``--warmup`` untimed iterations, then ``--iterations`` timed ones.

* harness: ``python -m dnn_suite --quiet run efficientdet --json ...``; its throughput is
  run.json's ``metrics.throughput`` (samples of the window / wall time of the window);
* bare: this script with ``--bare``: a ``for`` loop over the same loader calling the same step,
  timed the same way (``perf_counter`` around the window, data loading included), with the device
  synchronized and the losses read at the window's ends only (``--device cuda``: what a real
  training loop on a GPU does).

The ratio harness/bare (target >= 0.98) is what the suite's loop, hooks, per-iteration records
and progress reporting cost. At 512 px a D0 step takes seconds and the harness's per-iteration
work is microseconds, so --quick (and --image-size 256) is the stricter test of overhead.

With ``--in-process`` both sides run in this one process instead, alternating: the harness as
``dnn_suite.cli.main([... "run", "efficientdet" ...])``, the bare loop as a function, each
building its model, loader and workers afresh every round. That cancels what differs from one
process to the next (on a shared VM, 10-20% in the speed of the same step), which separate
processes cannot tell from harness overhead; the separate-process mode measures the command
exactly as a user runs it.

    .venv/bin/python benchmarks/harness.py [--quick] [--rounds N] [--image-size 512] [--iterations N] [--in-process]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ab

TARGET = 0.98


def bare(args) -> dict:
    """The hand-written loop: the plugin's pieces, no suite runner."""
    import torch

    from dnn_suite.precision import memory_format
    from dnn_suite.run.runner import seed_everything
    from dnn_suite_detection.data import SyntheticConfig, build_dataset, build_loader
    from dnn_suite_efficientdet.model import build_efficientdet
    from dnn_suite_efficientdet.optim import build_sgd, recipe_lr
    from dnn_suite_efficientdet.step import TrainStep
    import sides

    seed_everything(0)
    size, batch = args.image_size, args.batch_size
    dataset = build_dataset("synthetic-train", Path(args.data_root), train=True, image_size=size,
                            synthetic=SyntheticConfig(image_size=size))
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    model = build_efficientdet("d0", len(dataset.class_names), image_size=size).train()
    model = model.to(device, memory_format=memory_format(sides.DEFAULT_CHANNELS_LAST))
    loader = build_loader(dataset, batch, shuffle=True, workers=args.workers, pin_memory=cuda, drop_last=True, seed=0)
    optimizer = build_sgd(model, lr=recipe_lr(batch), momentum=sides.MOMENTUM,
                          weight_decay=sides.WEIGHT_DECAY, fused=cuda)
    step = TrainStep(model, device, image_size=size, amp=False,
                     channels_last=sides.DEFAULT_CHANNELS_LAST, clip_grad_norm=sides.CLIP)
    batches = iter(loader)
    for _ in range(args.warmup):
        step(model, next(batches), optimizer)
    samples, losses = 0, []
    sides.finished(device)
    start = time.perf_counter()
    for _ in range(args.iterations):
        out = step(model, next(batches), optimizer)
        samples += out.samples
        losses.append(out.loss)
    # as a training loop on a GPU does: no wait inside the window, the losses read once at its end
    sides.finished(device)
    torch.stack(losses).tolist()
    wall = time.perf_counter() - start
    return {"throughput": samples / wall, "wall_s": wall, "samples": samples}


def harness_figures(run_json: dict) -> dict:
    metrics = run_json["metrics"]
    return {"throughput": metrics["throughput"]["value"], "wall_s": metrics["window_time_s"],
            "data_loading_share": metrics.get("data_loading_share")}


def run_side(side: str, args, data_root: str, output: str) -> dict:
    common = ["--image-size", str(args.image_size), "--batch-size", str(args.batch_size), "--warmup",
              str(args.warmup), "--iterations", str(args.iterations), "--workers", str(args.workers),
              "--device", args.device, "--allocator", args.allocator]  # dnn-suite's flag, and ab's for --bare
    if args.in_process:
        if side == "bare":
            return bare(args)
        from dnn_suite.cli import main as dnn_suite_main

        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = dnn_suite_main(["--quiet", "run", "efficientdet", "--json", "--data-root", data_root, "--output",
                                   output, *common])
        if code != 0:
            raise SystemExit(f"harness failed ({code})")
        return harness_figures(json.loads(printed.getvalue()))
    if side == "harness":
        command = [sys.executable, "-m", "dnn_suite", "--quiet", "run", "efficientdet", "--json",
                   "--data-root", data_root, "--output", output, *common]
    else:
        command = [sys.executable, str(Path(__file__)), "--bare", "--data-root", data_root, *common]
    # Both children under the wait policy the dnn-suite CLI picks (PASSIVE unless the environment says), and
    # both under --allocator: ab.parse put it in force here, os.environ carries it, and each child applies it.
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ab.REPO, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{side} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    if side == "harness":
        return harness_figures(json.loads(done.stdout))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=4, quick_rounds=2)
    p.add_argument("--image-size", type=int, default=None, help="default 512; with --quick 256")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iterations", type=int, default=None, help="default 10; with --quick 6")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--data-root", default=None, help=argparse.SUPPRESS)
    p.add_argument("--in-process", action="store_true",
                   help="both sides in this one process, alternating (cancels process-to-process differences)")
    p.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    if "--in-process" in (sys.argv[1:] if argv is None else argv):
        # as the dnn-suite CLI would before torch loads; in the other mode each child does the same
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = ab.parse(p, argv)
    args.image_size = args.image_size or (256 if args.quick else 512)
    args.iterations = args.iterations or (6 if args.quick else 10)
    if args.bare:
        print(json.dumps(bare(args)))
        return
    where = "both in this process" if args.in_process else "one process per run"
    results = ab.header(f"harness overhead: dnn-suite run vs a bare loop ({where})", args,
                        image_size=args.image_size, batch_size=args.batch_size, warmup=args.warmup,
                        iterations=args.iterations, workers=args.workers, in_process=args.in_process,
                        target=TARGET)
    with tempfile.TemporaryDirectory(prefix="dnn-suite-harness-") as tmp:
        data_root, output = str(Path(tmp) / "data"), str(Path(tmp) / "results")
        args.data_root = data_root  # the bare loop's, when it runs in this process
        from dnn_suite_detection.data import SyntheticConfig, ensure_synthetic, synthetic_dir

        params = SyntheticConfig(image_size=args.image_size).__dict__
        ensure_synthetic(synthetic_dir(Path(data_root), **params), **params)
        figures: dict[str, list[dict]] = {"harness": [], "bare": []}
        for r, order in ab.orders(["harness", "bare"], args.rounds):
            for side in order:
                figures[side].append(run_side(side, args, data_root, output))
            print(f"  round {r + 1}/{args.rounds}: " + ", ".join(
                f"{s} {figures[s][-1]['throughput']:.3f} img/s" for s in figures), file=sys.stderr, flush=True)
    for side, rows in figures.items():
        values = [row["throughput"] for row in rows]
        print(f"   {side:<8} median {ab.median(values):.3f} images/s (best {max(values):.3f}, worst {min(values):.3f})")
    shares = [row["data_loading_share"] for row in figures["harness"] if row.get("data_loading_share") is not None]
    paired = [h["throughput"] / b["throughput"] for h, b in zip(figures["harness"], figures["bare"])]
    ratio = ab.median([row["throughput"] for row in figures["harness"]]) / ab.median(
        [row["throughput"] for row in figures["bare"]])
    print(f"   ratio {ratio:.3f}x (medians), {ab.median(paired):.3f}x (median of rounds)")
    if shares:
        print(f"   data loading share of the harness's iteration time: median {ab.median(shares) * 100:.2f}%")
    ab.record(results, f"harness/bare throughput, d0 {args.image_size}px batch {args.batch_size}", ab.median(paired),
              target=TARGET, unit="x", ratio_of_medians=ratio, figures=figures,
              data_loading_share_median=ab.median(shares) if shares else None)
    ab.finish(results, args)


if __name__ == "__main__":
    main()
