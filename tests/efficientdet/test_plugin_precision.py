"""`--amp` and `--[no-]channels-last` change what the model actually computes, seen from inside its convolutions."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

SMALL = ["--image-size", "128", "--set", "model_options.synthetic_train=4", "--set", "model_options.synthetic_val=2",
         "--workers", "0", "--batch-size", "2", "--warmup", "0", "--iterations", "1"]


def _convolutions_seen(cli, tmp_path, *flags):
    """(input, weight, output) of every Conv2d forward during a one-step `dnn-suite run efficientdet`."""
    seen = []

    def record(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            seen.append((inputs[0], module.weight, output))

    handle = nn.modules.module.register_module_forward_hook(record)
    try:
        result = cli("run", "efficientdet", *SMALL, "--data-root", tmp_path / "data", "--output", tmp_path, "--json",
                     *flags)
    finally:
        handle.remove()
    assert result.code == 0, result.err
    assert json.loads(result.out)["status"] == "ok"
    assert len(seen) > 50  # backbone, BiFPN and heads
    return seen


def _is(tensor: torch.Tensor, memory_format: torch.memory_format) -> bool:
    return tensor.is_contiguous(memory_format=memory_format)


@pytest.mark.slow
def test_amp_and_channels_last_are_what_the_convolutions_get(cli, tmp_path):
    seen = _convolutions_seen(cli, tmp_path, "--amp", "--channels-last")
    assert {output.dtype for _, _, output in seen} == {torch.bfloat16}  # CPU autocast's dtype
    images, _, _ = seen[0]  # the stem sees the batch itself
    assert images.shape == (2, 3, 128, 128)
    assert _is(images, torch.channels_last) and not _is(images, torch.contiguous_format)
    # weights where the two layouts differ (more than one input channel, a spatial kernel)
    spatial = [w for _, w, _ in seen if w.shape[1] > 1 and w.shape[2] > 1]
    assert spatial and all(_is(w, torch.channels_last) and not _is(w, torch.contiguous_format) for w in spatial)


@pytest.mark.slow
def test_without_amp_and_channels_last_the_model_runs_fp32_nchw(cli, tmp_path):
    seen = _convolutions_seen(cli, tmp_path, "--no-amp", "--no-channels-last")
    assert {output.dtype for _, _, output in seen} == {torch.float32}
    images, _, _ = seen[0]
    assert _is(images, torch.contiguous_format) and not _is(images, torch.channels_last)
    spatial = [w for _, w, _ in seen if w.shape[1] > 1 and w.shape[2] > 1]
    assert spatial and all(_is(w, torch.contiguous_format) and not _is(w, torch.channels_last) for w in spatial)
