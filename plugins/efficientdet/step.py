"""One EfficientDet training iteration: forward, loss, backward, optimizer step.

Shared by the benchmark loop (``dnn-suite run``) and the trainer (``dnn-suite train``).
Mixed precision is bf16 autocast on CPU and fp16 autocast with a GradScaler on CUDA; the
loss is always computed in fp32. Nothing here reads a value back to the host, so the step
queues its work without a host-device sync.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dnn_suite.context import StepOutput

from .model import DetectionLoss, EfficientDet


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


class TrainStep:
    def __init__(self, model: EfficientDet, device: torch.device, *, image_size: int, amp: bool,
                 channels_last: bool, clip_grad_norm: float) -> None:
        self.device = device
        self.loss = DetectionLoss(model.anchors(image_size), model.num_classes).to(device)
        self.amp = amp
        self.amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
        self.memory_format = memory_format(channels_last)
        self.clip_grad_norm = clip_grad_norm

    def to_device(self, batch: tuple[torch.Tensor, list[dict[str, Any]]]) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        images, targets = batch
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        targets = [{"boxes": t["boxes"].to(self.device, non_blocking=True),
                    "labels": t["labels"].to(self.device, non_blocking=True)} for t in targets]
        return images, targets

    def __call__(self, model: nn.Module, batch: Any, optimizer: torch.optim.Optimizer) -> StepOutput:
        images, targets = self.to_device(batch)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            class_outputs, box_outputs = model(images)
        losses = self.loss(class_outputs, box_outputs, targets)
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        if self.clip_grad_norm > 0:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), self.clip_grad_norm)
        self.scaler.step(optimizer)
        self.scaler.update()
        components = {k: losses[k].detach() for k in ("class_loss", "box_loss", "num_positives")}
        return StepOutput(loss=losses["loss"].detach(), samples=len(images), components=components)
