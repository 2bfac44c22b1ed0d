"""Our best training mode vs effdet eager fp32 (D0, 512, batch 4), side by side.

Candidate modes of our training step, each alternated against effdet as created (eager, fp32,
contiguous NCHW): ``eager`` (the plugin's default, channels_last), ``nchw`` (for reference),
``compile`` (channels_last + torch.compile of the network; the first steps compile, several
minutes on 2 cores, not timed), ``bf16`` (channels_last + bf16 autocast, the plugin's --amp on
CPU). The script prints each mode's ratio and names the best.

    .venv/bin/python benchmarks/best_mode.py [--quick] [--modes eager,compile,bf16] [--rounds N] [--threads N]

--quick measures ``eager`` only, 3 rounds. Slow modes (bf16 is ~10x slower on CPUs without
native bf16) get at most 2 rounds.
"""

from __future__ import annotations

import ab
import sides

TARGET = 1.5
MODES = {
    "eager": dict(channels_last=True),
    "nchw": dict(channels_last=False),
    "compile": dict(channels_last=True, compile=True),
    "bf16": dict(channels_last=True, amp=True),
}
SLOW = {"bf16"}


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=6, quick_rounds=3)
    p.add_argument("--modes", default=None, help=f"comma-separated, of {','.join(MODES)} "
                                                 "(default eager,compile,bf16; with --quick eager)")
    p.add_argument("--variant", default="d0")
    p.add_argument("--image-size", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=4)
    args = ab.parse(p, argv)
    modes = (args.modes or ("eager" if args.quick else "eager,compile,bf16")).split(",")
    v, size, batch = args.variant, args.image_size, args.batch_size
    results = ab.header("best mode: ours vs effdet eager fp32 (NCHW)", args, variant=v, image_size=size,
                        batch_size=batch, modes=modes, target=TARGET)
    best = None
    for mode in modes:
        ours = ab.Side(f"ours {mode}", sides.ours_train(v, size, batch, **MODES[mode]), items=batch)
        theirs = ab.Side("effdet eager fp32", sides.effdet_train(v, size, batch), items=batch)
        rounds = min(args.rounds, 2) if mode in SLOW else args.rounds
        ab.alternate([ours, theirs], rounds, warmup=2 if mode == "compile" else 1, label=f"{mode} ")
        entry = ab.compare(results, f"{mode}: {v} {size}px batch {batch}", ours, theirs, target=TARGET,
                           unit="images")
        if best is None or entry["median_of_round_ratios"] > best[1]:
            best = (mode, entry["median_of_round_ratios"])
    if best:
        print(f"best mode: {best[0]} ({best[1]:.3f}x effdet eager fp32; {ab.verdict(best[1], TARGET)})")
        results["best"] = {"mode": best[0], "ratio": best[1]}
    ab.finish(results, args)


if __name__ == "__main__":
    main()
