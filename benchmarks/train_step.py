"""Training-step throughput, this project vs effdet, eager fp32, side by side.

One step = forward, loss with target assignment, backward, gradient clipping, SGD step, on a
fixed batch (random init, 20 classes); see sides.py for how each side is built. Configurations:
EfficientDet-D0 at 512 with batch 4 and D1 at 640 with batch 2, the same thread count for both.

Rows:
  * headline: ours as the plugin runs by default vs effdet as created (contiguous NCHW);
  * with --controls, the same memory format on both sides (both NCHW, both channels_last), which
    shows how much of the difference is the memory format and how much the rest.

    .venv/bin/python benchmarks/train_step.py [--quick] [--rounds N] [--threads N] [--controls] [--json FILE]
        [--device cuda] [--amp] [--image-size S --batch-size B]
"""

from __future__ import annotations

import ab
import sides

TARGET = 1.15
CONFIGS = {"d0": (512, 4), "d1": (640, 2)}


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=8, quick_rounds=3)
    p.add_argument("--variants", default=None, help="comma-separated, of d0,d1 (default both; with --quick d0)")
    p.add_argument("--controls", action="store_true", help="also compare with the same memory format on both sides")
    p.add_argument("--image-size", type=int, default=None, help="instead of the variant's configuration")
    p.add_argument("--batch-size", type=int, default=None, help="instead of the variant's configuration")
    args = ab.parse(p, argv)
    variants = (args.variants or ("d0" if args.quick else "d0,d1")).split(",")
    precision = "AMP" if args.amp else "fp32"
    results = ab.header(f"training step: ours vs effdet, eager {precision}, {args.device}", args, variants=variants,
                        ours_channels_last_default=sides.DEFAULT_CHANNELS_LAST, target=TARGET)
    for variant in variants:
        size, batch = CONFIGS[variant]
        size, batch = args.image_size or size, args.batch_size or batch
        on = {"amp": args.amp, "device": args.device}
        pairs = [("", sides.DEFAULT_CHANNELS_LAST, False)]
        if args.controls:
            pairs += [(" [both NCHW]", False, False), (" [both channels_last]", True, True)]
        for label, ours_cl, theirs_cl in pairs:
            ours = ab.Side(f"ours {variant} ({'channels_last' if ours_cl else 'NCHW'})",
                           sides.ours_train(variant, size, batch, channels_last=ours_cl, **on), items=batch)
            theirs = ab.Side(f"effdet {variant} ({'channels_last' if theirs_cl else 'NCHW'})",
                             sides.effdet_train(variant, size, batch, channels_last=theirs_cl, **on), items=batch)
            ab.alternate([ours, theirs], args.rounds, label=f"{variant}{label} ")
            ab.compare(results, f"{variant} {size}px batch {batch}{label}", ours, theirs,
                       target=TARGET if not label else None, unit="images")
    ab.finish(results, args)


if __name__ == "__main__":
    main()
