"""Where the training step spends its time, ours against effdet, operator by operator.

Both sides are built as in sides.py (same batch, same memory format, same optimizer recipe);
each runs ``--warmup`` untimed steps, then ``--rounds`` steps under ``torch.profiler`` (CPU
activity), the sides alternating step by step. The table lists, per ATen operator, the self CPU
time per step (time in the operator itself, not in the operators it calls) and the calls per
step on each side, sorted by the larger of the two times, with the difference ours - effdet;
the last rows are the totals. Self times add up to the step's time, so the rows with the
largest positive difference are where our step spends more.

    .venv/bin/python benchmarks/op_profile.py [--variant d0] [--image-size 512] [--batch-size 4]
        [--memory-format channels_last|nchw] [--rounds N] [--top N] [--threads N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import ab

import torch
from torch.profiler import ProfilerActivity, profile

import sides


def self_times(run, steps: int) -> tuple[dict[str, float], dict[str, float]]:
    """Self CPU seconds and calls per step, by operator name, over ``steps`` profiled calls of ``run``."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            run()
    seconds, calls = {}, {}
    for event in prof.key_averages():
        seconds[event.key] = event.self_cpu_time_total / 1e6 / steps
        calls[event.key] = event.count / steps
    return seconds, calls


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="d0", choices=sorted(sides.EFFDET_NAMES))
    p.add_argument("--image-size", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--memory-format", choices=("channels_last", "nchw"), default="channels_last")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3, help="profiled steps per side, alternating (default 3)")
    p.add_argument("--top", type=int, default=30, help="operators listed (default 30)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", type=Path, default=None, help="also write the per-operator figures to this JSON file")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    channels_last = args.memory_format == "channels_last"
    build = (args.variant, args.image_size, args.batch_size)
    runs = {"ours": sides.ours_train(*build, channels_last=channels_last),
            "effdet": sides.effdet_train(*build, channels_last=channels_last)}
    for run in runs.values():
        for _ in range(args.warmup):
            run()
    seconds = {name: {} for name in runs}
    calls = {name: {} for name in runs}
    for _, order in ab.orders(list(runs), args.rounds):  # one profiled step per side per round, ABBA
        for name in order:
            s, c = self_times(runs[name], 1)
            for key in s:
                seconds[name][key] = seconds[name].get(key, 0.0) + s[key] / args.rounds
                calls[name][key] = calls[name].get(key, 0.0) + c[key] / args.rounds
    keys = sorted(set(seconds["ours"]) | set(seconds["effdet"]),
                  key=lambda k: -max(seconds["ours"].get(k, 0.0), seconds["effdet"].get(k, 0.0)))
    info = ab.machine()
    print(f"== self CPU time per training step by operator: {args.variant} {args.image_size}px batch "
          f"{args.batch_size}, fp32, both {args.memory_format}, {args.rounds} profiled steps per side "
          f"({info['threads']} threads, load average {info['load_average_1_5_15']})")
    print(f"{'operator':<44} {'ours ms':>9} {'effdet ms':>10} {'diff ms':>9} {'ours calls':>11} {'effdet calls':>13}")
    rows = []
    for key in keys:
        ours, theirs = seconds["ours"].get(key, 0.0), seconds["effdet"].get(key, 0.0)
        row = {"operator": key, "ours_ms": ours * 1e3, "effdet_ms": theirs * 1e3, "diff_ms": (ours - theirs) * 1e3,
               "ours_calls": calls["ours"].get(key, 0.0), "effdet_calls": calls["effdet"].get(key, 0.0)}
        rows.append(row)
    for row in rows[:args.top]:
        print(f"{row['operator'][:44]:<44} {row['ours_ms']:9.1f} {row['effdet_ms']:10.1f} {row['diff_ms']:+9.1f} "
              f"{row['ours_calls']:11.0f} {row['effdet_calls']:13.0f}")
    totals = {name: sum(seconds[name].values()) * 1e3 for name in runs}
    rest = {name: totals[name] - sum(r[f"{name}_ms"] for r in rows[:args.top]) for name in runs}
    print(f"{'(the other operators)':<44} {rest['ours']:9.1f} {rest['effdet']:10.1f} {rest['ours'] - rest['effdet']:+9.1f}")
    print(f"{'total self CPU time':<44} {totals['ours']:9.1f} {totals['effdet']:10.1f} "
          f"{totals['ours'] - totals['effdet']:+9.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()}, "machine": info,
                                         "totals_ms": totals, "operators": rows}, indent=2))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
