"""On a real GPU with the real ncu: the dnn_suite.window range, matched process-wide, keeps
every kernel of the window, backward ones included (autograd launches them from its own
thread on CUDA, which ncu's default push/pop scope would leave out). Skipped without CUDA
or ncu."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from fakes.harness import value

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
              pytest.mark.skipif(shutil.which("ncu") is None, reason="ncu (Nsight Compute) is not on PATH")]


def _kernel_count(cli, tmp_path, nvtx: bool) -> int:
    result = cli("run", "tiny", "--device", "cuda", "--warmup", 1, "--iterations", 1, "--profiler", "ncu",
                 "--output", tmp_path, "--json", "--set", "profiler_options.nsight.launch_count=0",
                 "--set", f"profiler_options.nsight.nvtx={'true' if nvtx else 'false'}")
    document = json.loads(result.out)
    error = document["profilers"]["nsight"]["error"]
    if error and "ERR_NVGPUCTRPERM" in error:
        pytest.skip("no permission for the GPU performance counters on this machine")
    assert result.code == 0, (error, result.err)
    return value(document, "nsight", "kernel_count")


def test_the_window_range_keeps_the_backward_kernels(tiny_plugin, cli, tmp_path):
    everything = _kernel_count(cli, tmp_path / "all", nvtx=False)  # the capture holds only the window
    in_range = _kernel_count(cli, tmp_path / "nvtx", nvtx=True)
    assert everything > 0 and in_range == everything
