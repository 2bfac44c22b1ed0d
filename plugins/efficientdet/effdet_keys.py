"""effdet (rwightman/efficientdet-pytorch) state-dict keys -> this plugin's EfficientDet keys.

effdet's PyTorch-padding models (``efficientdet_d0`` .. ``efficientdet_d3``) have the same
tensors as ours, and its ``tf_efficientdet_*`` ports those of ours with ``tf_layout``
(model/tf_layout.py: conv biases), under other names: a timm EfficientNet backbone (``conv_stem``, ``bn1``,
``blocks.<stage>.<block>.*``) where ours is torchvision's (``features.<stage + 1>.<block>.block.*``),
the BiFPN as ``fpn.cell.<layer>.fnode.<node>`` with each input's resampling keyed by the
input's index among the available maps, and the heads as ``conv_rep``/``bn_rep``/``predict``.
Every key is renamed by the rules below; nothing is matched by position or shape.

effdet's 90 COCO classes are the COCO category ids 1..90 (output ``i`` is id ``i + 1``; ten
ids are unused): :data:`COCO_CATEGORY_NAMES` names them, so that such weights can be matched
to a dataset's classes by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor, nn

from dnn_suite.errors import UsageError

# timm's BatchNorm default, which the backbones of effdet's efficientdet_* models are built (and
# were trained) with; ours uses TF's 1e-3 everywhere, the paper's reference.
EFFDET_BACKBONE_BN_EPS = 1e-5

# Layers inside a timm block -> (slot in torchvision's block.N, name inside the slot).
_INVERTED_RESIDUAL = {"conv_pw": "0.0", "bn1": "0.1", "conv_dw": "1.0", "bn2": "1.1", "se.conv_reduce": "2.fc1",
                      "se.conv_expand": "2.fc2", "conv_pwl": "3.0", "bn3": "3.1"}
_DEPTHWISE_SEPARABLE = {"conv_dw": "0.0", "bn1": "0.1", "se.conv_reduce": "1.fc1", "se.conv_expand": "1.fc2",
                        "conv_pw": "2.0", "bn2": "2.1"}
_LAYER = re.compile(r"(se\.conv_reduce|se\.conv_expand|conv_pwl|conv_pw|conv_dw|bn\d)\.(\w+)$")
_SEPARABLE = {"conv_dw": "0", "conv_pw": "1", "bn": "2"}

# COCO 2017's category ids and names (ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 are unused).
COCO_CATEGORY_NAMES = dict(enumerate((
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", None, "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", None, "backpack", "umbrella", None, None, "handbag", "tie", "suitcase",
    "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard",
    "surfboard", "tennis racket", "bottle", None, "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana",
    "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", None, "dining table", None, None, "toilet", None, "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", None, "book", "clock",
    "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
), start=1))


def coco90_class_names() -> list[str]:
    """The class of each of effdet's 90 outputs; unused ids are named ``unused-<id>``."""
    return [name or f"unused-{id_}" for id_, name in COCO_CATEGORY_NAMES.items()]


def is_effdet_state(state: Mapping[str, object]) -> bool:
    return any(key.startswith(("backbone.conv_stem.", "fpn.cell.")) for key in state)


def _backbone_key(key: str, state: Mapping[str, Tensor]) -> str | None:
    if key.startswith("backbone.conv_stem."):
        return "backbone.features.0.0." + key.removeprefix("backbone.conv_stem.")
    if key.startswith("backbone.bn1."):
        return "backbone.features.0.1." + key.removeprefix("backbone.bn1.")
    match = re.fullmatch(r"backbone\.blocks\.(\d+)\.(\d+)\.(.+)", key)
    if not match:
        return None
    stage, block, rest = match.groups()
    layer = _LAYER.fullmatch(rest)
    if not layer:
        return None
    # A block with a projection conv (conv_pwl) is an inverted residual; without one (stage 0,
    # expansion 1) a depthwise-separable block, whose layers sit in other slots.
    inverted = f"backbone.blocks.{stage}.{block}.conv_pwl.weight" in state
    slot = (_INVERTED_RESIDUAL if inverted else _DEPTHWISE_SEPARABLE).get(layer.group(1))
    return None if slot is None else f"backbone.features.{int(stage) + 1}.{block}.block.{slot}.{layer.group(2)}"


def _fpn_key(key: str, model: nn.Module) -> str | None:
    match = re.fullmatch(r"fpn\.resample\.\d+\.conv\.(conv|bn)\.(\w+)", key)
    if match:  # the projection before the first pooled level (P6); later levels are pooled only
        part, name = match.groups()
        return f"fpn.extra_project.{'0' if part == 'conv' else '1'}.{name}"
    match = re.fullmatch(r"fpn\.cell\.(\d+)\.fnode\.(\d+)\.(.+)", key)
    if not match:
        return None
    layer, node, rest = int(match.group(1)), int(match.group(2)), match.group(3)
    prefix = f"fpn.layers.{layer}.nodes.{node}"
    if rest == "combine.edge_weights":
        return f"{prefix}.weight"
    resample = re.fullmatch(r"combine\.resample\.(\d+)\.conv\.(conv|bn)\.(\w+)", rest)
    if resample:
        offset, part, name = int(resample.group(1)), resample.group(2), resample.group(3)
        try:
            position = model.fpn.layers[layer].nodes[node].inputs.index(offset)
        except (IndexError, ValueError):
            return None
        return f"{prefix}.resample.{position}.project.{'0' if part == 'conv' else '1'}.{name}"
    conv = re.fullmatch(r"after_combine\.conv\.(conv_dw|conv_pw|bn)\.(\w+)", rest)
    return f"{prefix}.conv.{_SEPARABLE[conv.group(1)]}.{conv.group(2)}" if conv else None


def _head_key(key: str) -> str | None:
    match = re.fullmatch(r"(class_net|box_net)\.(.+)", key)
    if not match:
        return None
    net, rest = match.groups()
    rep = re.fullmatch(r"conv_rep\.(\d+)\.(conv_dw|conv_pw)\.(weight|bias)", rest)
    if rep:
        return f"{net}.{'depthwise' if rep.group(2) == 'conv_dw' else 'pointwise'}.{rep.group(1)}.{rep.group(3)}"
    norm = re.fullmatch(r"bn_rep\.(\d+)\.(\d+)\.bn\.(\w+)", rest)
    if norm:
        return f"{net}.norms.{norm.group(1)}.{norm.group(2)}.{norm.group(3)}"
    predict = re.fullmatch(r"predict\.(conv_dw|conv_pw)\.(\w+)", rest)
    return f"{net}.predict.{_SEPARABLE[predict.group(1)]}.{predict.group(2)}" if predict else None


def convert_effdet_state(state: Mapping[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """effdet's state dict renamed to ``model``'s keys; a key no rule knows is a UsageError."""
    converted: dict[str, Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key.startswith("backbone."):
            ours = _backbone_key(key, state)
        elif key.startswith("fpn."):
            ours = _fpn_key(key, model)
        else:
            ours = _head_key(key)
        if ours is None:
            unknown.append(key)
        else:
            converted[ours] = value
    if unknown:
        raise UsageError(f"{len(unknown)} effdet keys have no counterpart in this EfficientDet "
                         f"(e.g. {', '.join(unknown[:3])}); effdet's efficientdet_d0..d3 and tf_efficientdet_d0..d7 "
                         "convert")
    return converted
