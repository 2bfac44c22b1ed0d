"""``--weights PATH``: a dnn-suite checkpoint or an effdet state dict, loaded into our EfficientDet.

The file is read with ``torch.load(weights_only=True)``; its kind is told by its keys (a
dnn-suite checkpoint has a ``model`` entry in our key names; effdet's have ``backbone.conv_stem``
and ``fpn.cell`` keys, bare or under ``state_dict_ema``/``state_dict``/``model``, possibly with
DistributedDataParallel's ``module.`` prefix). effdet keys are renamed by :mod:`.effdet_keys`.

The class head's last layer is the only part that depends on the classes:

* the weights' classes equal the dataset's: everything is loaded;
* the dataset's classes are all among the weights' (named in a dnn-suite checkpoint; effdet's 90
  are the COCO categories): that layer's rows of those classes are loaded, in the dataset's order;
* the weights name no classes but have as many as the dataset: they are taken as the dataset's;
* otherwise, when fine-tuning is allowed (``train``, ``run``), everything else is loaded and that
  layer keeps its fresh initialisation (std 0.01, bias at the prior 0.01); ``eval`` refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dnn_suite.errors import UsageError
from dnn_suite.training.checkpoint import load_tensors
from dnn_suite.training.classes import class_difference

from .effdet_keys import EFFDET_BACKBONE_BN_EPS, coco90_class_names, convert_effdet_state, is_effdet_state
from .model import VARIANTS

CLASS_LAYER = ("class_net.predict.1.weight", "class_net.predict.1.bias")
TF_BIAS_KEY = "fpn.cell.0.fnode.0.after_combine.conv.conv_pw.bias"  # only TF-layout effdet models have it
_WRAPPERS = ("state_dict_ema", "state_dict", "model")


@dataclass
class Weights:
    """Tensors in our key names, where they came from, and what they say about themselves."""

    source: Path
    kind: str  # "dnn-suite checkpoint" or "effdet state dict"
    state: dict[str, Tensor]
    class_names: list[str] | None  # None: not recorded (only the count is known)
    backbone_bn_eps: float | None = None  # the eps the backbone was trained with, when it is not ours


@dataclass
class LoadReport:
    """What :func:`load_weights` did, for the one-paragraph summary the commands print."""

    weights: Weights
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # tensors of the file not loaded, with their shapes
    reinitialised: list[str] = field(default_factory=list)  # the model's tensors left at their initialisation
    note: str = ""

    def summary(self) -> str:
        lines = [f"weights {self.weights.source}: {self.weights.kind}, {len(self.loaded)} tensors loaded"
                 + (f" ({self.note})" if self.note else "")]
        if self.weights.backbone_bn_eps is not None:
            lines.append(f"  backbone BatchNorm eps {self.weights.backbone_bn_eps:g}, as these weights were trained")
        for label, keys in (("skipped (from the file)", self.skipped), ("re-initialised", self.reinitialised)):
            if keys:
                lines.append(f"  {label}: {', '.join(keys)}")
        return "\n".join(lines)


def _tensors(candidate: Any) -> dict[str, Tensor] | None:
    if isinstance(candidate, dict) and candidate and all(isinstance(v, Tensor) for v in candidate.values()):
        return {str(k): v for k, v in candidate.items()}
    return None


def _strip_prefix(state: dict[str, Tensor]) -> dict[str, Tensor]:
    for prefix in ("module.", "model."):
        if all(key.startswith(prefix) for key in state):
            state = {key.removeprefix(prefix): value for key, value in state.items()}
    return state


def read_weights(path: str | Path, model: nn.Module) -> Weights:
    """The tensors of ``path`` in ``model``'s key names (not yet checked against its shapes)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"weights {path}: no such file")
    content = load_tensors(path, f"weights {path}: not a readable weights file")
    if isinstance(content, dict) and _tensors(content.get("model")) is not None and "class_names" in content:
        check_layout(path, bool(content.get("tf_layout")), model)
        state = _tensors(content.get("ema")) or _tensors(content["model"])
        return Weights(path, "dnn-suite checkpoint", state, list(content["class_names"]),
                       content.get("backbone_bn_eps"))
    candidates = [content] + [content.get(key) for key in _WRAPPERS if isinstance(content, dict)]
    for candidate in candidates:
        state = _tensors(candidate)
        if state is None:
            continue
        state = _strip_prefix(state)
        if is_effdet_state(state):
            tf_layout = TF_BIAS_KEY in state
            check_layout(path, tf_layout, model)
            converted = convert_effdet_state(state, model)
            count = converted["class_net.predict.1.bias"].numel() // model.config.num_anchors
            names = coco90_class_names() if count == 90 else None
            # tf_ backbones were trained with TF's eps, which is ours; the others with timm's
            return Weights(path, "effdet TF-layout state dict" if tf_layout else "effdet state dict", converted,
                           names, None if tf_layout else EFFDET_BACKBONE_BN_EPS)
        if "backbone.features.0.0.weight" in state:
            return Weights(path, "dnn-suite state dict", state, None)
    raise UsageError(f"weights {path}: expected a dnn-suite checkpoint or an effdet EfficientDet state dict "
                     "(keys backbone.conv_stem..., fpn.cell...), found neither")


def check_layout(source: str | Path, tf_layout: bool, model: nn.Module) -> None:
    """Weights of TF's layout (same padding, conv biases) need a model with it, and the others one without."""
    if tf_layout and not model.fpn.same_padding:
        raise UsageError(f"weights {source} have TF EfficientDet's layout (effdet's tf_efficientdet_*: 'same' "
                         "padding, conv biases); pass --set model_options.tf_layout=true")
    if model.fpn.same_padding and not tf_layout:
        raise UsageError(f"weights {source} have PyTorch padding and no conv biases; leave model option "
                         "tf_layout off for them")


def _variants_of(state: dict[str, Tensor]) -> list[str]:
    """The variants whose BiFPN width and depth the weights have (D6 and D7 share theirs)."""
    first = state.get("fpn.layers.0.nodes.0.conv.1.weight")
    depth = len({key.split(".")[2] for key in state if key.startswith("fpn.layers.")})
    return [name for name, c in VARIANTS.items()
            if first is not None and (c.fpn_channels, c.fpn_repeats) == (first.shape[0], depth)]


def _class_rows(weights: Weights, class_names: Sequence[str], num_anchors: int) -> tuple[Tensor, Tensor] | None:
    """The class layer restricted to ``class_names`` (by name, in their order), if all are known."""
    if weights.class_names is None or not set(class_names) <= set(weights.class_names):
        return None
    weight, bias = (weights.state[key] for key in CLASS_LAYER)
    count = len(weights.class_names)
    index = torch.tensor([a * count + weights.class_names.index(name)
                          for a in range(num_anchors) for name in class_names])
    return weight[index], bias[index]


def set_backbone_bn_eps(model: nn.Module, eps: float) -> None:
    for module in model.backbone.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = eps


def backbone_bn_eps(model: nn.Module) -> float:
    return next(m.eps for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d))


def load_weights(model: nn.Module, path: str | Path, class_names: Sequence[str], *,
                 allow_new_classes: bool) -> LoadReport:
    """Load ``path`` into ``model`` (built for ``class_names``); see the module docstring."""
    weights = read_weights(path, model)
    state = dict(weights.state)
    report = LoadReport(weights)
    own = model.state_dict()
    variants = _variants_of(state)
    if variants and model.config.name not in variants:
        raise UsageError(f"weights {path} are for EfficientDet-{variants[0].upper()}, the model is "
                         f"{model.config.name.upper()}; pass --variant {variants[0]}")
    if weights.class_names is not None and list(weights.class_names) == list(class_names):
        pass
    elif (rows := _class_rows(weights, class_names, model.config.num_anchors)) is not None:
        state.update(zip(CLASS_LAYER, rows))
        report.note = f"class head: the rows of the dataset's {len(class_names)} classes of {len(weights.class_names)}"
    elif weights.class_names is None and state[CLASS_LAYER[1]].shape == own[CLASS_LAYER[1]].shape:
        report.note = f"no class names recorded: their {len(class_names)} classes taken as the dataset's, in order"
    elif allow_new_classes:
        for key in CLASS_LAYER:
            report.skipped.append(f"{key} {list(state.pop(key).shape)}")
            report.reinitialised.append(key)
        saved = f"{len(weights.class_names)} classes" if weights.class_names else "other classes"
        report.note = f"fine-tuning from {saved} to {len(class_names)}"
    else:
        raise UsageError(_class_difference(path, weights.class_names, class_names))
    missing = sorted(set(own) - set(state) - set(report.reinitialised))
    unexpected = sorted(set(state) - set(own))
    misshapen = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or misshapen:
        parts = [f"{len(keys)} {label} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", misshapen))
                 if keys]
        raise UsageError(f"weights {path} do not fit EfficientDet-{model.config.name.upper()}: {'; '.join(parts)}")
    model.load_state_dict(state, strict=False)
    report.loaded = sorted(state)
    if weights.backbone_bn_eps is not None:
        set_backbone_bn_eps(model, weights.backbone_bn_eps)
    return report


def _class_difference(path: str | Path, saved: Sequence[str] | None, wanted: Sequence[str]) -> str:
    if saved is None:
        return f"weights {path} record no class names; the dataset has {len(wanted)} classes ({', '.join(wanted[:5])})"
    difference = class_difference(saved, wanted, "the weights", "the dataset")
    return f"weights {path} were trained on other classes: {difference}"
