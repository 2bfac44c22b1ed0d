"""The layout of the official TF EfficientDet (effdet's ``tf_efficientdet_*`` ports), as a model option.

Two differences from ours, both from TensorFlow: "same" padding, which for a stride-2 conv or
max-pool pads ``total = max((ceil(n / s) - 1) * s + k - n, 0)`` pixels, the smaller half before
and the larger after (PyTorch pads ``k // 2`` on both sides); and a bias on every conv followed by
BatchNorm (redundant — BN's shift absorbs it — but part of the trained weights). Stride-1 convs
with odd kernels pad the same either way, so only the stride-2 ones change.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .bifpn import ConvBN, Resample, SeparableConvBN
from .padding import same_pad


def _pad_input(conv: nn.Conv2d, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return (same_pad(args[0], conv.kernel_size[0], conv.stride[0]),)


def _add_bias(conv: nn.Conv2d) -> None:
    conv.bias = nn.Parameter(torch.zeros(conv.out_channels))


def apply_tf_layout(model: nn.Module) -> None:
    """Give ``model`` (an :class:`EfficientDet`) TF's same padding and its conv biases, in place."""
    for conv in model.backbone.modules():
        if isinstance(conv, nn.Conv2d) and conv.stride[0] > 1:
            conv.padding = (0, 0)
            conv.register_forward_pre_hook(_pad_input)
    for module in model.fpn.modules():
        if isinstance(module, ConvBN):
            _add_bias(module[0])
        elif isinstance(module, SeparableConvBN):
            _add_bias(module[1])
        elif isinstance(module, Resample):
            module.same_padding = True
    model.fpn.same_padding = True
    for head in (model.class_net, model.box_net):
        for conv in head.pointwise:
            _add_bias(conv)
