"""Mixed precision of the EfficientDet training step: the autocast dtype, when a GradScaler is
used, and the fused optimizer that keeps GradScaler.step free of a host sync on CUDA."""

from __future__ import annotations

import pytest
import torch

from dnn_suite.precision import autocast_dtype
from dnn_suite_efficientdet.model import build_efficientdet
from dnn_suite_efficientdet.optim import build_sgd, recipe_lr
from dnn_suite_efficientdet.step import TrainStep

SIZE = 64


def _step(amp_dtype: str, device: torch.device = torch.device("cpu")):
    torch.manual_seed(0)
    model = build_efficientdet("d0", 3, image_size=SIZE).to(device).train()
    step = TrainStep(model, device, image_size=SIZE, amp=True, amp_dtype=amp_dtype, channels_last=False,
                     clip_grad_norm=10.0)
    optimizer = build_sgd(model, lr=recipe_lr(2), momentum=0.9, weight_decay=4e-5,
                          fused=device.type == "cuda")
    images = torch.randn(2, 3, SIZE, SIZE)
    targets = [{"boxes": torch.tensor([[4.0, 4.0, 40.0, 30.0]]), "labels": torch.tensor([1])} for _ in range(2)]
    return model, step, optimizer, (images, targets)


def test_auto_is_fp16_on_cuda_and_bf16_on_the_cpu():
    assert autocast_dtype("auto", torch.device("cuda")) is torch.float16
    assert autocast_dtype("auto", torch.device("cpu")) is torch.bfloat16
    assert autocast_dtype("bfloat16", torch.device("cuda")) is torch.bfloat16


def test_bf16_trains_without_a_scaler():
    model, step, optimizer, batch = _step("bfloat16")
    before = [p.detach().clone() for p in model.parameters()]
    output = step(model, batch, optimizer)
    assert not step.precision.scaler.is_enabled() and step.precision.dtype is torch.bfloat16
    assert torch.isfinite(torch.as_tensor(output.loss)) and output.loss.dtype is torch.float32  # loss in fp32
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_fp16_uses_a_grad_scaler():
    _, step, _, _ = _step("float16")
    assert step.precision.scaler.is_enabled() and step.precision.dtype is torch.float16


def test_the_optimizer_is_fused_only_when_asked():
    model = torch.nn.Linear(3, 3)
    assert build_sgd(model, lr=recipe_lr(8), momentum=0.9, weight_decay=0.0,
                     fused=True).defaults["fused"] is True
    assert not build_sgd(model, lr=recipe_lr(8), momentum=0.9, weight_decay=0.0).defaults["fused"]


def test_an_unknown_amp_dtype_is_a_usage_error(cli, tmp_path):
    result = cli("run", "efficientdet", "--amp", "--amp-dtype", "half", "--output", tmp_path)
    assert result.code == 2
    assert "amp_dtype" in result.err and "auto, float16, bfloat16" in result.err


@pytest.mark.gpu
def test_fp16_step_of_the_fused_optimizer_does_not_sync():
    """GradScaler.unscale_ + clipping + scaler.step + update with the fused SGD queue work only."""
    model, step, optimizer, batch = _step("float16", torch.device("cuda"))
    assert optimizer.defaults["fused"] is True
    step(model, batch, optimizer)  # first step: the scaler's state and the optimizer's buffers are created
    optimizer.zero_grad(set_to_none=True)
    images, targets = step.to_device(batch)
    with torch.autocast("cuda", dtype=torch.float16):
        outputs = model(images)
    losses = step.loss(*outputs, targets)
    step.precision.scaler.scale(losses["loss"]).backward()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step.precision.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        step.precision.scaler.step(optimizer)
        step.precision.scaler.update()
    finally:
        torch.cuda.set_sync_debug_mode("default")
