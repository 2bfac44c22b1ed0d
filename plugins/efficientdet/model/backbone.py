"""EfficientNet backbone: torchvision's EfficientNet cut after the last stride-32 stage."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from dnn_suite.errors import UsageError
from dnn_suite.training.checkpoint import load_tensors

from .activation import replace_silu


# `features.N` blocks whose outputs are the stride 8, 16 and 32 maps (P3, P4, P5).
# `features.8` (1x1 conv to the classifier width) and the classifier are not used.
FEATURE_BLOCKS = (3, 5, 7)
BACKBONES = tuple(f"efficientnet_b{i}" for i in range(8))
IMAGENET = "imagenet"


class EfficientNetBackbone(nn.Module):
    """Returns the stride 8/16/32 feature maps; parameter names match torchvision's (`features.N...`)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise UsageError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")
        self.name = name
        full = getattr(torchvision.models, name)(weights=None)
        self.features = full.features[: FEATURE_BLOCKS[-1] + 1]
        # torchvision's SiLUs are always in place, which costs training a copy of each input (activation.py)
        replace_silu(self.features)
        self.out_channels: list[int] = [self.features[i][-1].out_channels for i in FEATURE_BLOCKS]

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in FEATURE_BLOCKS:
                outputs.append(x)
        return outputs


def hub_checkpoint(name: str) -> Path:
    """Where torch hub keeps torchvision's default ImageNet weights for backbone ``name``."""
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_backbone_weights(backbone: EfficientNetBackbone, weights: str | Path) -> None:
    """Load a torchvision-format EfficientNet state dict into ``backbone``; never downloads.

    ``weights`` is a file path, or "imagenet" for torchvision's default weights, which must
    already be in the torch hub cache. Keys of ``features.8`` and the classifier are ignored;
    anything else missing, extra or of the wrong shape is a UsageError naming the file.
    """
    from_hub = str(weights) == IMAGENET
    path = hub_checkpoint(backbone.name) if from_hub else Path(weights)
    if not path.is_file():
        hint = " (ImageNet weights are looked up in the torch hub cache, never downloaded)"
        raise UsageError(f"backbone weights {path}: file not found" + (hint if from_hub else ""))
    state = load_tensors(path, f"backbone weights {path}: cannot be read as a state dict")
    if not isinstance(state, dict):
        raise UsageError(f"backbone weights {path}: expected a state dict, got {type(state).__name__}")
    ignored = ("classifier.", f"features.{FEATURE_BLOCKS[-1] + 1}.")
    state = {k: v for k, v in state.items() if not k.startswith(ignored)}
    expected = backbone.state_dict()
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    wrong = [k for k in expected.keys() & state.keys()
             if not isinstance(state[k], Tensor) or state[k].shape != expected[k].shape]
    problems = [f"{label} ({len(keys)}, e.g. {keys[0]})"
                for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                    ("shape mismatches", sorted(wrong))) if keys]
    if problems:
        raise UsageError(f"backbone weights {path}: not a torchvision {backbone.name} state dict: "
                         + "; ".join(problems))
    backbone.load_state_dict(state)
