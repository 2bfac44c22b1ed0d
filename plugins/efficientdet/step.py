"""One EfficientDet training iteration: forward, loss, backward, optimizer step, each marked as
a phase (:mod:`dnn_suite.phases`) for the ``torch`` profiler's trace.

Shared by the benchmark loop (``dnn-suite run``) and the trainer (``dnn-suite train``).
Mixed precision is :class:`dnn_suite.precision.MixedPrecision` (``amp``, ``amp_dtype``); the
loss is always computed in fp32. Nothing here reads a value back to the host, so the step
queues its work without a host-device sync.

On several processes the loss is that of the global batch (all ranks' images), normalised by
the global batch's positives as one process with that batch would: DistributedDataParallel
averages the ranks' gradients, so each rank differentiates its share scaled by the world size.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from dnn_suite.context import StepOutput
from dnn_suite.phases import phase
from dnn_suite.precision import MixedPrecision, memory_format

from .model import DetectionLoss, EfficientDet


class TrainStep:
    def __init__(self, model: EfficientDet, device: torch.device, *, image_size: int, amp: bool,
                 channels_last: bool, clip_grad_norm: float, world_size: int = 1, amp_dtype: str = "auto") -> None:
        self.device = device
        self.world_size = world_size
        self.loss = DetectionLoss(model.anchors(image_size), model.num_classes).to(device)
        self.precision = MixedPrecision(device, enabled=amp, dtype=amp_dtype)
        self.memory_format = memory_format(channels_last)
        self.clip_grad_norm = clip_grad_norm

    def to_device(self, batch: tuple[torch.Tensor, list[dict[str, Any]]]) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        images, targets = batch
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        targets = [{"boxes": t["boxes"].to(self.device, non_blocking=True),
                    "labels": t["labels"].to(self.device, non_blocking=True)} for t in targets]
        return images, targets

    def __call__(self, model: nn.Module, batch: Any, optimizer: torch.optim.Optimizer) -> StepOutput:
        with phase("to_device"):
            images, targets = self.to_device(batch)
        with phase("forward"), self.precision.autocast():
            class_outputs, box_outputs = model(images)
        with phase("loss"):
            losses = self.loss(class_outputs, box_outputs, targets)
            loss, reported = losses["loss"], losses["loss"].detach()
            if self.world_size > 1:
                loss, reported = self.global_loss(losses)
        self.precision.backward_and_step(loss, optimizer, clip_grad_norm=self.clip_grad_norm,
                                         parameters=model.parameters())
        components = {k: losses[k].detach() for k in ("class_loss", "box_loss", "num_positives")}
        return StepOutput(loss=reported, samples=len(images), components=components)

    def global_loss(self, losses: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """This rank's share of the global batch's loss, scaled by the world size (to differentiate),
        and the global batch's loss (to report); one all-reduce of the positives and loss sums."""
        positives = losses["num_positives"].detach().float()
        total = losses["loss"] * (positives + 1)  # this rank's sum, undivided by its own positives
        sums = torch.stack([positives, total.detach()])
        dist.all_reduce(sums)
        normalizer = sums[0] + 1
        return total * (self.world_size / normalizer), sums[1] / normalizer
