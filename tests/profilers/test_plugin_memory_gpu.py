"""The memory profiler on a real CUDA GPU: the allocator's view beside the tracker's, and the
memory snapshot for https://pytorch.org/memory_viz. Skipped without CUDA."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from fakes.harness import value

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_cuda_allocator_view_fit_and_snapshot(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--device", "cuda", "--warmup", 1, "--iterations", 2, "--profiler", "memory",
                 "--set", "profiler_options.memory.snapshot=true",
                 "--set", "profiler_options.memory.fit_batch_sizes=[1,2]", "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    run_dir = Path(document["run_dir"])
    report = document["profilers"]["memory"]
    assert report["error"] is None
    assert set(report["artefacts"]) == {"memory/memory.json", "memory/snapshot.pickle"}
    allocated, reserved = value(document, "memory", "cuda_peak_allocated"), value(document, "memory", "cuda_peak_reserved")
    assert reserved >= allocated >= value(document, "memory", "peak_total") > 0
    assert value(document, "memory", "cuda_fragmentation") == reserved - allocated
    assert value(document, "memory", "untracked") == allocated - value(document, "memory", "peak_total")
    assert value(document, "memory", "cuda_ooms") == 0
    assert value(document, "memory", "capacity") == torch.cuda.get_device_properties(0).total_memory
    assert abs(value(document, "memory", "fit.check_error")) < 10
    assert "https://pytorch.org/memory_viz" in result.err
    with open(run_dir / "memory" / "snapshot.pickle", "rb") as f:
        snapshot = pickle.load(f)  # the file this run just wrote
    assert "segments" in snapshot and any(trace for trace in snapshot["device_traces"])
