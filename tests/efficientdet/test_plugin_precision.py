"""`--amp` and `--[no-]channels-last` change what the model actually computes, seen from inside its convolutions."""

from __future__ import annotations

import json

import pytest
import torch

from convolutions import convolutions_seen, only_in, spatial_weights

SMALL = ["--image-size", "128", "--set", "model_options.synthetic_train=4", "--set", "model_options.synthetic_val=2",
         "--workers", "0", "--batch-size", "2", "--warmup", "0", "--iterations", "1"]


def _convolutions_seen(cli, tmp_path, *flags):
    """(input, weight, output) of every Conv2d forward during a one-step `dnn-suite run efficientdet`."""
    with convolutions_seen() as seen:
        result = cli("run", "efficientdet", *SMALL, "--data-root", tmp_path / "data", "--output", tmp_path, "--json",
                     *flags)
    assert result.code == 0, result.err
    assert json.loads(result.out)["status"] == "ok"
    assert len(seen) > 50  # backbone, BiFPN and heads
    return seen


@pytest.mark.slow
def test_amp_and_channels_last_are_what_the_convolutions_get(cli, tmp_path):
    seen = _convolutions_seen(cli, tmp_path, "--amp", "--channels-last")
    assert {output.dtype for _, _, output in seen} == {torch.bfloat16}  # CPU autocast's dtype
    images, _, _ = seen[0]  # the stem sees the batch itself
    assert images.shape == (2, 3, 128, 128)
    assert only_in(images, torch.channels_last)
    spatial = spatial_weights(seen)
    assert spatial and all(only_in(w, torch.channels_last) for w in spatial)


@pytest.mark.slow
def test_without_amp_and_channels_last_the_model_runs_fp32_nchw(cli, tmp_path):
    seen = _convolutions_seen(cli, tmp_path, "--no-amp", "--no-channels-last")
    assert {output.dtype for _, _, output in seen} == {torch.float32}
    images, _, _ = seen[0]
    assert only_in(images, torch.contiguous_format)
    spatial = spatial_weights(seen)
    assert spatial and all(only_in(w, torch.contiguous_format) for w in spatial)


@pytest.mark.slow
def test_evaluation_runs_in_the_amp_dtype_asked_for(cli, tmp_path):
    seen = _convolutions_seen(cli, tmp_path, "--amp", "--amp-dtype", "float16", "--evaluate")
    evaluation = [output for _, _, output in seen if not output.requires_grad]
    assert evaluation  # the --evaluate forward passes, under no_grad
    assert {output.dtype for _, _, output in seen} == {torch.float16}  # not CPU autocast's default bf16
