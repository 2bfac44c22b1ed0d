"""The two sides of the EfficientDet comparisons, built the same way for every script.

*Ours* is this project's plugin exactly as ``dnn-suite run`` builds it: ``build_efficientdet``,
the plugin's SGD recipe (``build_sgd``), ``TrainStep`` (forward, loss with target assignment,
backward, gradient clipping at 10, SGD step) and, for inference, ``postprocess``; the memory
format is the plugin's default (``channels_last`` option) unless a mode asks otherwise.

A side's *mode* (:class:`Mode`) is its precision, memory format and execution (eager or
``torch.compile`` of the network, through ``dnn-suite run --compile``'s own code path:
:func:`dnn_suite.run.compiling.compile_model` in mode ``default``); every comparison records both sides' modes, so that a ratio
always says what ran against what. :data:`BEST` names each side's fastest training mode on the
project's CPU, as measured by best_mode.py; :data:`AS_IT_COMES` each library's default.

*effdet* is ``effdet.create_model(<variant>, bench_task="train", bench_labeler=True)``: its
DetBenchTrain labels anchors inside the step, as ours does (effdet's own training script can
also label in the data loader workers instead). Its optimizer is SGD with the same learning rate,
momentum and weight-decay groups, and the same gradient clipping. Inference uses
``bench_task="predict"`` (DetBenchPredict: top-5000 candidates, per-class NMS, 100 per image).
Its compile mode compiles ``bench.model`` (the network), as ours compiles the network.

Both sides: random initialisation, the same batch of images and boxes, ``model.train()`` for
training, ``model.eval()`` and ``torch.inference_mode()`` for inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import ab  # noqa: F401  (puts the repository on sys.path)

import torch

from dnn_suite.options import defaults
from dnn_suite.run.compiling import compile_model
from dnn_suite.precision import memory_format
from dnn_suite_efficientdet.model import build_efficientdet, postprocess
from dnn_suite_efficientdet.optim import build_sgd, parameter_groups, recipe_lr
from dnn_suite_efficientdet.plugin import OPTIONS
from dnn_suite_efficientdet.step import TrainStep

EFFDET_NAMES = {"d0": "efficientdet_d0", "d1": "efficientdet_d1", "d2": "efficientdet_d2", "d3": "efficientdet_d3"}
DEFAULTS = defaults(OPTIONS)  # the plugin's option defaults by name
COMPILE_MODE = "default"  # the torch.compile mode of a compiled side, as `dnn-suite run --compile`
DEFAULT_CHANNELS_LAST = bool(DEFAULTS["channels_last"])
MOMENTUM = float(DEFAULTS["momentum"])
WEIGHT_DECAY = float(DEFAULTS["weight_decay"])
CLIP = float(DEFAULTS["clip_grad_norm"])


@dataclass(frozen=True)
class Mode:
    """How one side runs: precision (fp32, or autocast), memory format, eager or torch.compile."""

    channels_last: bool = False
    amp: bool = False
    compile: bool = False

    def describe(self, device: str = "cpu") -> dict[str, str]:
        autocast = f"{'fp16' if torch.device(device).type == 'cuda' else 'bf16'} autocast"
        return {"precision": autocast if self.amp else "fp32",
                "memory_format": "channels_last" if self.channels_last else "NCHW",
                "execution": "torch.compile" if self.compile else "eager"}

    def label(self, device: str = "cpu") -> str:
        d = self.describe(device)
        return f"{d['execution']} {d['precision']} {d['memory_format']}"

    def options(self) -> dict[str, bool]:
        return {"channels_last": self.channels_last, "amp": self.amp, "compile": self.compile}


MODES = {
    "eager": Mode(channels_last=True),
    "nchw": Mode(),
    "compile": Mode(channels_last=True, compile=True),
    "bf16": Mode(channels_last=True, amp=True),
}
# Each side's fastest training mode on the project's 2-core CPU (best_mode.py,
# docs/performance/best_mode.json): torch.compile of the network, fp32 channels_last,
# for both (effdet 1.51 s against 1.72 s eager, ours 1.38 s against 1.60 s; on the AMD machine of
# 2026-11-28 compiling gained ours about 5% and effdet's compile was not measured).
BEST = {"ours": "compile", "effdet": "compile"}
AS_IT_COMES = {"ours": "eager" if DEFAULT_CHANNELS_LAST else "nchw", "effdet": "nchw"}


def batch(batch_size: int, image_size: int, num_classes: int, *, objects: int = 3, seed: int = 0):
    """Random normalised images and ``objects`` boxes per image: (images, our targets, effdet target)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch_size, 3, image_size, image_size, generator=g)
    targets = []
    for _ in range(batch_size):
        xy = torch.rand(objects, 2, generator=g) * image_size * 0.6
        wh = torch.rand(objects, 2, generator=g) * image_size * 0.3 + image_size * 0.06
        targets.append({"boxes": torch.cat([xy, xy + wh], 1),
                        "labels": torch.randint(0, num_classes, (objects,), generator=g)})
    # effdet: boxes (y1, x1, y2, x2), classes 1..C (0 is background, -1 padding)
    effdet_target = {"bbox": torch.stack([t["boxes"][:, [1, 0, 3, 2]] for t in targets]),
                     "cls": torch.stack([t["labels"] + 1 for t in targets]).float()}
    return images, targets, effdet_target


def amp_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype of --amp, as the plugin's default: fp16 on CUDA, bf16 on the CPU."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def finished(device: torch.device) -> None:
    """End a call with its GPU work done, so that its wall time covers it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ours_model(variant: str, num_classes: int, image_size: int, *, channels_last: bool, seed: int = 0):
    torch.manual_seed(seed)
    model = build_efficientdet(variant, num_classes, image_size=image_size)
    return model.to(memory_format=memory_format(channels_last))


def ours_train(variant: str, image_size: int, batch_size: int, num_classes: int = 20, *,
               channels_last: bool = DEFAULT_CHANNELS_LAST, amp: bool = False, compile: bool = False,
               device: str = "cpu"):
    """A callable doing one training step of our model on a fixed batch (on ``device``, as the plugin
    builds it there: the batch copied from the host each step, the fused SGD on CUDA)."""
    where = torch.device(device)
    model = ours_model(variant, num_classes, image_size, channels_last=channels_last).to(where).train()
    step = TrainStep(model, where, image_size=image_size, amp=amp, channels_last=channels_last,
                     clip_grad_norm=CLIP)
    optimizer = build_sgd(model, lr=recipe_lr(batch_size), momentum=MOMENTUM,
                          weight_decay=WEIGHT_DECAY, fused=where.type == "cuda")
    images, targets, _ = batch(batch_size, image_size, num_classes)
    network = compile_model(model, COMPILE_MODE if compile else None)

    def run() -> None:
        step(network, (images, targets), optimizer)
        finished(where)

    return run


def effdet_model(variant: str, num_classes: int, image_size: int, task: str, *, channels_last: bool = False,
                 seed: int = 0):
    from effdet import create_model

    torch.manual_seed(seed)
    bench = create_model(EFFDET_NAMES[variant], bench_task=task, num_classes=num_classes, pretrained=False,
                         pretrained_backbone=False, bench_labeler=True, image_size=(image_size, image_size))
    return bench.to(memory_format=memory_format(channels_last))


def effdet_train(variant: str, image_size: int, batch_size: int, num_classes: int = 20, *,
                 channels_last: bool = False, amp: bool = False, compile: bool = False, device: str = "cpu"):
    """A callable doing one effdet training step (DetBenchTrain: forward, labeler, loss) + SGD; with
    ``amp`` under autocast (fp16 with a GradScaler on CUDA, as effdet's train.py with native AMP)."""
    where = torch.device(device)
    bench = effdet_model(variant, num_classes, image_size, "train", channels_last=channels_last).to(where).train()
    optimizer = torch.optim.SGD(parameter_groups(bench, WEIGHT_DECAY), lr=recipe_lr(batch_size),
                                momentum=MOMENTUM, fused=where.type == "cuda" or None)
    scaler = torch.amp.GradScaler(where.type, enabled=amp and amp_dtype(where) == torch.float16)
    compile_model(bench.model, COMPILE_MODE if compile else None)
    images, _, target = batch(batch_size, image_size, num_classes)
    images = images.contiguous(memory_format=memory_format(channels_last))
    target = {key: value.to(where) for key, value in target.items()}

    def run() -> None:
        with torch.autocast(where.type, dtype=amp_dtype(where), enabled=amp):
            loss = bench(images.to(where, non_blocking=True), target)["loss"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(bench.parameters(), CLIP)
        scaler.step(optimizer)
        scaler.update()
        finished(where)

    return run


def _zero_bias(layer: torch.nn.Module) -> None:
    with torch.no_grad():
        layer.bias.zero_()


def ours_predict(variant: str, image_size: int, batch_size: int, num_classes: int = 20, *,
                 channels_last: bool = DEFAULT_CHANNELS_LAST, busy_nms: bool = True, amp: bool = False,
                 device: str = "cpu"):
    """A callable: forward in eval mode + post-processing (top 5000, decode, per-class NMS, 100 kept).

    ``busy_nms``: zero the class-output bias, so that untrained scores sit near 0.5 and all 5000
    candidates reach NMS (otherwise the 0.01 prior puts every score under our 0.05 threshold and
    post-processing has nothing to do, which would flatter us: effdet has no threshold).
    """
    where = torch.device(device)
    model = ours_model(variant, num_classes, image_size, channels_last=channels_last).to(where).eval()
    if busy_nms:
        _zero_bias(model.class_net.predict[1])
    anchors = model.anchors(image_size).to(where)
    images, _, _ = batch(batch_size, image_size, num_classes, seed=1)
    images = images.contiguous(memory_format=memory_format(channels_last)).to(where)
    options = {k: DEFAULTS[k] for k in ("score_threshold", "nms_iou", "max_detections")}

    def run() -> list:
        with torch.inference_mode():
            with torch.autocast(where.type, dtype=amp_dtype(where), enabled=amp):
                class_outputs, box_outputs = model(images)
            detections = postprocess(class_outputs, box_outputs, anchors, score_threshold=options["score_threshold"],
                               nms_iou=options["nms_iou"], max_detections=options["max_detections"])
        finished(where)
        return detections

    return run


def effdet_predict(variant: str, image_size: int, batch_size: int, num_classes: int = 20, *,
                   channels_last: bool = False, busy_nms: bool = True, amp: bool = False, device: str = "cpu"):
    where = torch.device(device)
    bench = effdet_model(variant, num_classes, image_size, "predict", channels_last=channels_last).to(where).eval()
    if busy_nms:
        _zero_bias(bench.model.class_net.predict.conv_pw)
    images, _, _ = batch(batch_size, image_size, num_classes, seed=1)
    images = images.contiguous(memory_format=memory_format(channels_last)).to(where)

    def run():
        with torch.inference_mode(), torch.autocast(where.type, dtype=amp_dtype(where), enabled=amp):
            detections = bench(images)
        finished(where)
        return detections

    return run
