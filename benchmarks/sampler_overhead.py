"""How much the background samplers (``nvml``, ``cpu``) slow a training step down.

Runs the same small training step (an MLP, forward + backward + SGD step, synchronized) with
no sampler and with each sampler at several intervals, interleaving the configurations over
several rounds in a new random order each so that drift in machine load hits them all alike, and prints per
configuration the median and p90 step time and the median's change against no sampler. It
also times one call of each sampler's sample function directly.

The samplers are the plugins' own (``dnn_suite_profilers.sampling.Sampler`` with the nvml
and cpu sample functions). NVML is the real ``pynvml`` when a driver answers, else the fake
of the tests (tests/profilers/fakes/pynvml.py), whose calls cost only Python overhead: on a
CPU-only machine the numbers show the cost of the thread and the GIL, not of the driver.

    .venv/bin/python benchmarks/sampler_overhead.py [--steps 200] [--rounds 5] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent


def load_pynvml():
    """(module, 'real' or 'fake')."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml, "real"
    except Exception:
        sys.modules.pop("pynvml", None)
        sys.path.insert(0, str(REPO / "tests" / "profilers" / "fakes"))
        import pynvml

        pynvml.nvmlInit()
        return pynvml, "fake"


def make_step(device: torch.device, width: int, batch: int):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                          nn.Linear(width, 1)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(batch, width, device=device)
    y = torch.randn(batch, 1, device=device)

    def step() -> None:
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def sampler_factories(pynvml, device: torch.device):
    from dnn_suite_profilers import cpu, nvml
    from dnn_suite_profilers.sampling import Sampler

    if device.type == "cuda":
        indices = [nvml.nvml_index_of_cuda_device(pynvml, device.index or 0)]
    else:
        indices = [0]
    devices = nvml.open_devices(pynvml, indices)

    def nvml_sampler(interval_ms: float) -> Sampler:
        return Sampler(nvml.sample_function(pynvml, devices), interval_ms / 1000.0)

    def cpu_sampler(interval_ms: float) -> Sampler:
        run = SimpleNamespace(profiler_options=lambda name: {"interval_ms": interval_ms})
        return cpu._sampler(run)  # type: ignore[arg-type]

    return {"nvml": nvml_sampler, "cpu": cpu_sampler}, nvml.sample_function(pynvml, devices)


def time_steps(step, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps per configuration and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--intervals", default="100,10,1", help="sampling intervals in ms, comma-separated")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    pynvml, kind = load_pynvml()
    step = make_step(device, args.width, args.batch)
    factories, nvml_sample = sampler_factories(pynvml, device)
    intervals = [float(i) for i in args.intervals.split(",")]
    configs = [("none", None, None)] + [(name, factories[name], ms) for name in ("nvml", "cpu") for ms in intervals]

    time_steps(step, 50)  # warmup
    results: dict[str, list[float]] = {}
    samples: dict[str, int] = {}
    order = random.Random(0)
    for _ in range(args.rounds):
        for name, factory, ms in order.sample(configs, len(configs)):  # a new order every round
            label = name if ms is None else f"{name} @ {ms:g} ms"
            sampler = factory(ms) if factory else None
            if sampler:
                sampler.start()
            results.setdefault(label, []).extend(time_steps(step, args.steps))
            if sampler:
                sampler.stop()
                samples[label] = samples.get(label, 0) + len(sampler.rows)

    cost_us = {}
    cpu_sample = factories["cpu"](100.0)._sample
    for name, sample in (("nvml", nvml_sample), ("cpu", cpu_sample)):
        calls = 2000
        start = time.perf_counter()
        for _ in range(calls):
            sample(0.0)
        cost_us[name] = (time.perf_counter() - start) / calls * 1e6
    pynvml.nvmlShutdown()

    base = statistics.median(results["none"])
    print(f"device {device}, pynvml {kind}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"MLP width {args.width}, batch {args.batch}, "
          f"{args.rounds} rounds x {args.steps} steps per configuration")
    print(f"one sample: nvml {cost_us['nvml']:.1f} us (7 NVML queries, 1 device), cpu {cost_us['cpu']:.1f} us "
          f"(psutil); sampling thread's share of one core at interval I ms = cost / I")
    print(f"{'sampler':<16} {'median ms':>10} {'p90 ms':>9} {'vs none':>8} {'samples':>8} {'thread share':>13}")
    for name, _, ms in configs:
        label = name if ms is None else f"{name} @ {ms:g} ms"
        times = results[label]
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        change = "" if ms is None else f"{(median / base - 1) * 100:+.1f}%"
        share = "" if ms is None else f"{cost_us[name] / (ms * 1000) * 100:.3f}%"
        print(f"{label:<16} {median * 1e3:>10.3f} {p90 * 1e3:>9.3f} {change:>8} {samples.get(label, ''):>8} {share:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
