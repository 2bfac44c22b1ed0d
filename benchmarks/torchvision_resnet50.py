"""Harness overhead for a torchvision classifier: ``dnn-suite run resnet50`` vs a bare loop in the
style of timm's ``benchmark.py`` (train mode).

Both sides train torchvision's resnet50 (random initialisation, 10 classes) at the same image
size and batch size, with the same optimizer (SGD, lr 0.1 per 256 images, momentum 0.9, weight
decay 1e-4), memory format (channels-last unless ``--no-channels-last``) and precision
(``--amp``: bf16 autocast on the CPU, fp16 + GradScaler on CUDA), ``--warmup`` untimed
iterations, then ``--iterations`` timed ones:

* harness: ``dnn_suite.cli.main(["run", "resnet50", ...])`` on its synthetic dataset, through its
  DataLoader (``--workers``); its figure is run.json's throughput (samples of the window / wall
  time of the window);
* bare: timm's benchmark loop: one batch of random tensors made on the device beforehand, then
  forward, cross-entropy, backward, step; ``perf_counter`` around the window, the device
  synchronized at its ends.

Both sides run in this one process, alternating ABBA, each building its model afresh every round,
which cancels what differs from one process to the next. The ratio harness/bare (target >= 0.98)
is what the suite's loop, hooks, records and data path cost.

    python benchmarks/torchvision_resnet50.py [--quick] [--rounds N] [--image-size 224] [--batch-size 8]
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time

import ab

TARGET = 0.98
MODEL, CLASSES = "resnet50", 10
LR_PER_256, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4


def bare(args) -> dict:
    """timm benchmark.py's training loop around the same torchvision model."""
    import torch
    import torchvision
    from torch.nn import functional as F

    from dnn_suite.precision import MixedPrecision, memory_format
    from dnn_suite.run.runner import seed_everything

    seed_everything(0)
    device = torch.device(args.device)
    layout = memory_format(args.channels_last)
    model = torchvision.models.get_model(MODEL, weights=None, num_classes=CLASSES).to(device, memory_format=layout)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR_PER_256 * args.batch_size / 256, momentum=MOMENTUM,
                                weight_decay=WEIGHT_DECAY, fused=True if device.type == "cuda" else None)
    precision = MixedPrecision(device, enabled=args.amp)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    images = images.contiguous(memory_format=layout)
    labels = torch.randint(CLASSES, (args.batch_size,), device=device)

    def step() -> torch.Tensor:
        with precision.autocast():
            logits = model(images)
        loss = F.cross_entropy(logits.float(), labels)
        precision.backward_and_step(loss, optimizer)
        return loss.detach()

    for _ in range(args.warmup):
        step()
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    losses = [step() for _ in range(args.iterations)]
    synchronize()
    torch.stack(losses).tolist()
    wall = time.perf_counter() - start
    return {"throughput": args.iterations * args.batch_size / wall, "wall_s": wall}


def harness(args, output: str) -> dict:
    from dnn_suite.cli import main as dnn_suite_main

    flags = ["--image-size", str(args.image_size), "--batch-size", str(args.batch_size), "--warmup",
             str(args.warmup), "--iterations", str(args.iterations), "--workers", str(args.workers), "--device",
             args.device, "--amp" if args.amp else "--no-amp",
             "--channels-last" if args.channels_last else "--no-channels-last",
             "--set", f"model_options.num_classes={CLASSES}",
             "--allocator", args.allocator]  # as ab.parse put in force for this whole process, both sides
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = dnn_suite_main(["--quiet", "run", MODEL, "--json", "--output", output, *flags])
    if code != 0:
        raise SystemExit(f"dnn-suite run {MODEL} failed ({code})")
    metrics = json.loads(printed.getvalue())["metrics"]
    return {"throughput": metrics["throughput"]["value"], "wall_s": metrics["window_time_s"],
            "data_loading_share": metrics.get("data_loading_share")}


def main(argv=None) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the dnn-suite CLI sets it before torch loads
    p = ab.parser(__doc__, rounds=6, quick_rounds=2)
    p.add_argument("--image-size", type=int, default=None, help="default 224; with --quick 64")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iterations", type=int, default=None, help="default 10; with --quick 4")
    p.add_argument("--workers", type=int, default=0, help="the harness's loader workers (default 0)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    args = ab.parse(p, argv)
    args.image_size = args.image_size or (64 if args.quick else 224)
    args.iterations = args.iterations or (4 if args.quick else 10)
    results = ab.header(f"harness overhead: dnn-suite run {MODEL} vs a timm-style bare loop (one process)", args,
                        model=MODEL, image_size=args.image_size, batch_size=args.batch_size, warmup=args.warmup,
                        iterations=args.iterations, workers=args.workers, amp=args.amp,
                        channels_last=args.channels_last, device=args.device, target=TARGET)
    figures: dict[str, list[dict]] = {"harness": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="dnn-suite-tv-") as output:
        for r, order in ab.orders(["harness", "bare"], args.rounds):
            for side in order:
                figures[side].append(harness(args, output) if side == "harness" else bare(args))
            print(f"  round {r + 1}/{args.rounds}: " + ", ".join(
                f"{s} {figures[s][-1]['throughput']:.3f} img/s" for s in figures), file=sys.stderr, flush=True)
    for side, rows in figures.items():
        values = [row["throughput"] for row in rows]
        print(f"   {side:<8} median {ab.median(values):.3f} images/s (best {max(values):.3f}, worst {min(values):.3f})")
    paired = [h["throughput"] / b["throughput"] for h, b in zip(figures["harness"], figures["bare"])]
    ratio = ab.median([r["throughput"] for r in figures["harness"]]) / ab.median(
        [r["throughput"] for r in figures["bare"]])
    shares = [r["data_loading_share"] for r in figures["harness"] if r.get("data_loading_share") is not None]
    print(f"   ratio {ratio:.3f}x (medians), {ab.median(paired):.3f}x (median of rounds); harness overhead "
          f"{(1 - ab.median(paired)) * 100:.1f}%")
    ab.record(results, f"harness/bare throughput, {MODEL} {args.image_size}px batch {args.batch_size}",
              ab.median(paired), target=TARGET, unit="x", ratio_of_medians=ratio, figures=figures,
              data_loading_share_median=ab.median(shares) if shares else None)
    ab.finish(results, args)


if __name__ == "__main__":
    main()
