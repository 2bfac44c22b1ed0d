"""How the training-step cost grows with batch size and input resolution, ours vs effdet.

D0, eager fp32, 20 classes; batch sizes 1, 2, 4, 8 at 512 px and resolutions 256, 384, 512,
640 at batch 4 (``--batch-sizes``, ``--sizes``). Each configuration alternates the two sides
(ABBA) like train_step.py and prints a table: seconds per step, images/s, the cost per image
relative to batch 4 at 512, and the ratio ours/effdet in throughput.

    .venv/bin/python benchmarks/scaling.py [--quick] [--rounds N] [--batch-sizes 1,2,4,8] [--sizes 256,384,512,640]
"""

from __future__ import annotations

import ab
import sides


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=3, quick_rounds=2)
    p.add_argument("--batch-sizes", default="1,2,4,8")
    p.add_argument("--sizes", default="256,384,512,640")
    args = ab.parse(p, argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    image_sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        batch_sizes, image_sizes = batch_sizes[:2], image_sizes[:2]
    configs = [(512, b) for b in batch_sizes] + [(s, 4) for s in image_sizes if (s, 4) not in [(512, b) for b in batch_sizes]]
    results = ab.header("scaling of the D0 training step with batch size and resolution", args,
                        batch_sizes=batch_sizes, image_sizes=image_sizes)
    rows = []
    for size, batch in configs:
        ours = ab.Side(f"ours {size}px b{batch}", sides.ours_train("d0", size, batch), items=batch)
        theirs = ab.Side(f"effdet {size}px b{batch}", sides.effdet_train("d0", size, batch), items=batch)
        ab.alternate([ours, theirs], args.rounds, label=f"{size}px b{batch} ")
        entry = ab.compare(results, f"d0 {size}px batch {batch}", ours, theirs, target=None, unit="images")
        rows.append((size, batch, entry))
    reference = next((e for s, b, e in rows if (s, b) == (512, 4)), rows[0][2])
    per_image_ref = reference["ours"]["median_s"] / reference["ours"]["items_per_call"]
    print("\n| input | batch | ours s/step | ours images/s | ours cost/image vs 512 b4 | effdet s/step | effdet images/s | ours/effdet |")
    print("|---|---|---|---|---|---|---|---|")
    for size, batch, e in rows:
        o, t = e["ours"], e["theirs"]
        print(f"| {size} | {batch} | {o['median_s']:.2f} | {o['images_per_s_median']:.2f} | "
              f"{o['median_s'] / batch / per_image_ref:.2f} | {t['median_s']:.2f} | {t['images_per_s_median']:.2f} | "
              f"{e['median_of_round_ratios']:.2f}x |")
    ab.finish(results, args)


if __name__ == "__main__":
    main()
