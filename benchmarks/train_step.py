"""Training-step throughput, this project vs effdet, side by side, both sides' modes stated.

One step = forward, loss with target assignment, backward, gradient clipping, SGD step, on a
fixed batch (random init, 20 classes); see sides.py for how each side is built. Configurations:
EfficientDet-D0 at 512 with batch 4 and D1 at 640 with batch 2, the same thread count for both.

Rows, each recording both sides' precision, memory format and execution (sides.Mode):
  * headline: each side in its best mode (sides.BEST, found by best_mode.py) -- the target row;
  * the same memory format on both sides, eager fp32: both NCHW, both channels_last (a row
    identical to the headline's modes is not measured twice);
  * with --as-it-comes, each library's default (ours channels_last, effdet contiguous NCHW).

    .venv/bin/python benchmarks/train_step.py [--quick] [--rounds N] [--threads N] [--as-it-comes]
        [--variants d0,d1] [--json FILE] [--device cuda] [--amp] [--image-size S --batch-size B]

``--amp`` puts every mode of both sides under autocast (fp16 on CUDA, bf16 on the CPU), and the
rows say so.
"""

from __future__ import annotations

import dataclasses

import ab
import sides

TARGET = 1.15
CONFIGS = {"d0": (512, 4), "d1": (640, 2)}


def rows(as_it_comes: bool) -> list[tuple[str, str, str]]:
    """(label, our mode, effdet's mode): best vs best first, then the same-format controls."""
    wanted = [("best mode vs best mode", sides.BEST["ours"], sides.BEST["effdet"]),
              ("both eager fp32 NCHW", "nchw", "nchw"), ("both eager fp32 channels_last", "eager", "eager")]
    if as_it_comes:
        wanted.append(("as each library comes", sides.AS_IT_COMES["ours"], sides.AS_IT_COMES["effdet"]))
    kept, seen = [], set()
    for label, ours, theirs in wanted:
        if (ours, theirs) not in seen:
            seen.add((ours, theirs))
            kept.append((label, ours, theirs))
    return kept


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=8, quick_rounds=3)
    p.add_argument("--variants", default=None, help="comma-separated, of d0,d1 (default both; with --quick d0)")
    p.add_argument("--as-it-comes", action="store_true",
                   help="also compare each library's default mode (ours channels_last, effdet NCHW)")
    p.add_argument("--image-size", type=int, default=None, help="instead of the variant's configuration")
    p.add_argument("--batch-size", type=int, default=None, help="instead of the variant's configuration")
    args = ab.parse(p, argv)
    variants = (args.variants or ("d0" if args.quick else "d0,d1")).split(",")
    results = ab.header(f"training step: ours vs effdet, {args.device}", args, variants=variants, target=TARGET,
                        best_modes={side: sides.MODES[m].label(args.device) for side, m in sides.BEST.items()},
                        amp=args.amp)
    for variant in variants:
        size, batch = CONFIGS[variant]
        size, batch = args.image_size or size, args.batch_size or batch
        for label, ours_mode, theirs_mode in rows(args.as_it_comes):
            mine, theirs = (dataclasses.replace(sides.MODES[m], amp=sides.MODES[m].amp or args.amp)
                            for m in (ours_mode, theirs_mode))
            ours = ab.Side(f"ours {variant} ({mine.label(args.device)})", sides.ours_train(
                variant, size, batch, **mine.options(), device=args.device), items=batch)
            peer = ab.Side(f"effdet {variant} ({theirs.label(args.device)})", sides.effdet_train(
                variant, size, batch, **theirs.options(), device=args.device), items=batch)
            ab.alternate([ours, peer], args.rounds, warmup=2 if mine.compile or theirs.compile else 1,
                         label=f"{variant} {label}: ")
            entry = ab.compare(results, f"{variant} {size}px batch {batch}, {label}", ours, peer,
                               target=TARGET if label.startswith("best") else None, unit="images")
            entry["ours"]["mode"], entry["theirs"]["mode"] = mine.describe(args.device), theirs.describe(args.device)
    ab.finish(results, args)


if __name__ == "__main__":
    main()
