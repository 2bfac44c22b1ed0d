"""Each side's best training mode (D0, 512, batch 4), every candidate timed against one reference.

Candidate modes (sides.MODES), for our training step and for effdet's: ``eager`` (eager fp32
channels_last; our plugin's default), ``nchw`` (eager fp32 NCHW; effdet's default), ``compile``
(channels_last + torch.compile of the network; the first steps compile, several minutes on
2 cores, not timed), ``bf16`` (channels_last + bf16 autocast; our --amp on CPU, effdet's
train.py --amp). Every candidate alternates with the same reference, effdet eager fp32 NCHW,
so that the ratios of one side's modes can be compared with each other. The script names each
side's best mode; train_step.py's headline row puts the two best modes (sides.BEST) against
each other, and this script says whether sides.BEST still names them.

    .venv/bin/python benchmarks/best_mode.py [--quick] [--sides ours,effdet] [--modes eager,compile,bf16]
        [--rounds N] [--threads N] [--json FILE]

--quick measures ``eager`` only, 3 rounds. Slow modes (bf16 is ~10x slower on CPUs without
native bf16) get at most 2 rounds.
"""

from __future__ import annotations

import ab
import sides

TARGET = 1.5
SLOW = {"bf16"}
REFERENCE = "nchw"
BUILD = {"ours": sides.ours_train, "effdet": sides.effdet_train}


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=6, quick_rounds=3)
    p.add_argument("--sides", default="ours,effdet", help="comma-separated, of ours,effdet (default both)")
    p.add_argument("--modes", default=None, help=f"comma-separated, of {','.join(sides.MODES)} "
                                                 "(default eager,compile,bf16 and, for effdet, nchw; with --quick eager)")
    p.add_argument("--variant", default="d0")
    p.add_argument("--image-size", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=4)
    args = ab.parse(p, argv)
    modes = (args.modes or ("eager" if args.quick else "eager,compile,bf16")).split(",")
    v, size, batch = args.variant, args.image_size, args.batch_size
    reference = sides.MODES[REFERENCE]
    results = ab.header(f"best mode: each candidate vs effdet {reference.label()}", args, variant=v,
                        image_size=size, batch_size=batch, modes=modes, target=TARGET)
    best: dict[str, tuple[str, float]] = {}
    for side in args.sides.split(","):
        for name in modes:
            if side == "effdet" and name == REFERENCE:
                continue  # the reference itself: ratio 1 by definition
            mode = sides.MODES[name]
            candidate = ab.Side(f"{side} {mode.label()}", BUILD[side](v, size, batch, **mode.options()), items=batch)
            peer = ab.Side(f"effdet {reference.label()}", sides.effdet_train(v, size, batch), items=batch)
            rounds = min(args.rounds, 2) if name in SLOW else args.rounds
            ab.alternate([candidate, peer], rounds, warmup=2 if mode.compile else 1, label=f"{side} {name}: ")
            entry = ab.compare(results, f"{side} {name}: {v} {size}px batch {batch}", candidate, peer,
                               target=TARGET if side == "ours" else None, unit="images")
            entry["ours"]["mode"], entry["theirs"]["mode"] = mode.describe(), reference.describe()
            entry["side"], entry["mode"] = side, name
            if side not in best or entry["median_of_round_ratios"] > best[side][1]:
                best[side] = (name, entry["median_of_round_ratios"])
        if side == "effdet" and best.get(side, ("", 0.0))[1] < 1.0:
            best[side] = (REFERENCE, 1.0)
    for side, (name, ratio) in best.items():
        note = "" if sides.BEST[side] == name else f"; sides.BEST names {sides.BEST[side]!r}: update it"
        print(f"best mode of {side}: {name} ({sides.MODES[name].label()}, {ratio:.3f}x effdet {reference.label()}{note})")
    results["best"] = {side: {"mode": name, "ratio": ratio, **sides.MODES[name].describe()}
                       for side, (name, ratio) in best.items()}
    ab.finish(results, args)


if __name__ == "__main__":
    main()
