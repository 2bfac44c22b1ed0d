"""Inference throughput including post-processing, this project vs effdet, batch 1 and 8.

One call = forward in eval mode under ``torch.inference_mode()`` + post-processing (top 5000
(anchor, class) candidates, box decoding, per-class NMS at IoU 0.5, 100 detections per image),
D0 at 512, random init, 20 classes. effdet is DetBenchPredict (its jit-scripted per-image
post-processing); ours is the model + ``postprocess`` as ``dnn-suite eval`` runs them.

The class-output bias of both models is zeroed so that untrained scores sit near 0.5 and every
one of the 5000 candidates goes through NMS on both sides (with the 0.01 prior bias, all scores
fall under our 0.05 score threshold and our post-processing has nothing to do, while effdet,
which has no threshold, still runs NMS on 5000 boxes); ``--prior`` measures that case too.

Rows, each recording both sides' precision and memory format: both eager fp32 channels_last
(the headline: each side's faster format on this CPU, the target row), both eager fp32 NCHW,
and with ``--as-it-comes`` each library's default (ours channels_last, effdet NCHW).

    .venv/bin/python benchmarks/inference.py [--quick] [--rounds N] [--threads N] [--prior] [--as-it-comes]
        [--device cuda] [--amp]
"""

from __future__ import annotations

import dataclasses

import ab
import sides

TARGET = 1.2
FORMATS = [("both channels_last", "eager", "eager"), ("both NCHW", "nchw", "nchw")]


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=10, quick_rounds=3)
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--variant", default="d0")
    p.add_argument("--image-size", type=int, default=512)
    p.add_argument("--prior", action="store_true", help="also measure with the models' 0.01 prior bias")
    p.add_argument("--as-it-comes", action="store_true",
                   help="also compare each library's default memory format (ours channels_last, effdet NCHW)")
    args = ab.parse(p, argv)
    v, size = args.variant, args.image_size
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    results = ab.header(f"inference incl. post-processing: ours vs effdet, {args.device}", args, variant=v,
                        image_size=size, batch_sizes=batch_sizes, amp=args.amp, target=TARGET)
    rows = FORMATS + ([("as each library comes", sides.AS_IT_COMES["ours"], sides.AS_IT_COMES["effdet"])]
                      if args.as_it_comes else [])
    for busy in (True, False) if args.prior else (True,):
        scores = "scores ~0.5, 5000 candidates into NMS" if busy else "0.01 prior bias"
        for batch in batch_sizes:
            for label, ours_mode, theirs_mode in rows:
                mine, peer = (dataclasses.replace(sides.MODES[m], amp=args.amp) for m in (ours_mode, theirs_mode))
                on = {"busy_nms": busy, "amp": args.amp, "device": args.device}
                ours = ab.Side(f"ours {v} b{batch} ({mine.label(args.device)})", sides.ours_predict(
                    v, size, batch, channels_last=mine.channels_last, **on), items=batch)
                theirs = ab.Side(f"effdet {v} b{batch} ({peer.label(args.device)})", sides.effdet_predict(
                    v, size, batch, channels_last=peer.channels_last, **on), items=batch)
                ab.alternate([ours, theirs], args.rounds, warmup=2, label=f"b{batch} {label}: ")
                entry = ab.compare(results, f"{v} {size}px batch {batch}, {label} ({scores})", ours, theirs,
                                   target=TARGET if busy and label == FORMATS[0][0] else None, unit="images")
                entry["ours"]["mode"], entry["theirs"]["mode"] = mine.describe(args.device), peer.describe(args.device)
    ab.finish(results, args)


if __name__ == "__main__":
    main()
