"""Inference throughput including post-processing, this project vs effdet, batch 1 and 8.

One call = forward in eval mode under ``torch.inference_mode()`` + post-processing (top 5000
(anchor, class) candidates, box decoding, per-class NMS at IoU 0.5, 100 detections per image),
D0 at 512, random init, 20 classes. effdet is DetBenchPredict (its jit-scripted per-image
post-processing); ours is the model + ``postprocess`` as ``dnn-suite eval`` runs them.

The class-output bias of both models is zeroed so that untrained scores sit near 0.5 and every
one of the 5000 candidates goes through NMS on both sides (with the 0.01 prior bias, all scores
fall under our 0.05 score threshold and our post-processing has nothing to do, while effdet,
which has no threshold, still runs NMS on 5000 boxes); ``--prior`` measures that case too.

    .venv/bin/python benchmarks/inference.py [--quick] [--rounds N] [--threads N] [--prior] [--device cuda] [--amp]
"""

from __future__ import annotations

import ab
import sides

TARGET = 1.2


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=10, quick_rounds=3)
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--variant", default="d0")
    p.add_argument("--image-size", type=int, default=512)
    p.add_argument("--prior", action="store_true", help="also measure with the models' 0.01 prior bias")
    args = ab.parse(p, argv)
    v, size = args.variant, args.image_size
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    results = ab.header(f"inference incl. post-processing: ours vs effdet, {'AMP' if args.amp else 'fp32'}, "
                        f"{args.device}", args, variant=v, image_size=size,
                        batch_sizes=batch_sizes, ours_channels_last=sides.DEFAULT_CHANNELS_LAST, target=TARGET)
    for busy in (True, False) if args.prior else (True,):
        scores = "scores ~0.5, 5000 candidates into NMS" if busy else "0.01 prior bias"
        for batch in batch_sizes:
            on = {"busy_nms": busy, "amp": args.amp, "device": args.device}
            ours = ab.Side(f"ours {v} b{batch}", sides.ours_predict(v, size, batch, **on), items=batch)
            theirs = ab.Side(f"effdet {v} b{batch}", sides.effdet_predict(v, size, batch, **on), items=batch)
            ab.alternate([ours, theirs], args.rounds, warmup=2, label=f"b{batch} ")
            ab.compare(results, f"{v} {size}px batch {batch} ({scores})", ours, theirs,
                       target=TARGET if busy else None, unit="images")
    ab.finish(results, args)


if __name__ == "__main__":
    main()
