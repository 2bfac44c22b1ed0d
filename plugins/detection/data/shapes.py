"""Drawing of one synthetic detection image: coloured shapes on a textured background.

Made to be learnable by a small detector in minutes on a CPU: few classes that differ in
outline, saturated object colours kept far from the muted background, objects at least ~15%
of the shorter image side, and overlaps limited so that every object stays mostly visible.
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageChops, ImageDraw

SHAPE_CLASSES = ("rectangle", "ellipse", "triangle", "cross")
MAX_OBJECTS = 6  # objects per image are uniform in 0..MAX_OBJECTS, so ~1 image in 7 is empty
SIZE_RANGE = (0.15, 0.5)  # object side, as a fraction of the shorter image side
MAX_HIDDEN = 0.35  # a new object may cover at most this fraction of an earlier object's box


def _background(rng: np.random.Generator, height: int, width: int) -> Image.Image:
    """Muted base colour plus one of: blotchy noise, a linear gradient, stripes; then fine grain.

    The texture is computed at half resolution and upsampled by PIL, which keeps generation at a
    few milliseconds per image.
    """
    h, w = (height + 1) // 2, (width + 1) // 2
    angle = rng.uniform(0, np.pi)
    x, y = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)[:, None]
    along = x * np.float32(np.cos(angle)) + y * np.float32(np.sin(angle))
    kind = rng.integers(3)
    if kind == 0:
        coarse = rng.normal(0, 25, size=(h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
        texture = coarse.repeat(8, axis=0).repeat(8, axis=1)[:h, :w]
    elif kind == 1:
        ramp = (along - along.min()) / max(float(np.ptp(along)), 1.0) - 0.5
        texture = ramp[..., None] * rng.uniform(-60, 60, size=3).astype(np.float32)
    else:
        stripes = np.sign(np.sin(along * np.float32(2 * np.pi / rng.uniform(5, 16))))
        texture = stripes[..., None] * rng.uniform(-25, 25, size=3).astype(np.float32)
    texture += rng.uniform(70, 180, size=3).astype(np.float32)
    image = Image.fromarray(np.clip(texture, 0, 255).astype(np.uint8)).resize((width, height), Image.BILINEAR)
    grain = Image.fromarray(rng.integers(118, 139, size=(height, width), dtype=np.uint8)).convert("RGB")
    return ImageChops.add(image, grain, offset=-128)


def _colour(rng: np.random.Generator, background_mean: np.ndarray) -> tuple[int, int, int]:
    """A saturated colour at least 100 (RGB distance) from the background's mean colour."""
    while True:
        rgb = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0))) * 255
        if np.linalg.norm(rgb - background_mean) >= 100:
            return tuple(int(v) for v in rgb)


def _draw(draw: ImageDraw.ImageDraw, label: int, box: tuple[int, int, int, int], fill: tuple, flip: bool) -> None:
    """Draw a shape filling the pixel box ``[x1, x2) x [y1, y2)`` (PIL's coordinates are inclusive)."""
    x1, y1, x2, y2 = box[0], box[1], box[2] - 1, box[3] - 1
    shape = SHAPE_CLASSES[label]
    if shape == "rectangle":
        draw.rectangle((x1, y1, x2, y2), fill=fill)
    elif shape == "ellipse":
        draw.ellipse((x1, y1, x2, y2), fill=fill)
    elif shape == "triangle":
        apex, base = (y2, y1) if flip else (y1, y2)
        draw.polygon([(x1, base), (x2, base), ((x1 + x2) / 2, apex)], fill=fill)
    else:  # cross: a horizontal and a vertical bar, each a third of the box thick
        tw, th = (x2 - x1) / 3, (y2 - y1) / 3
        draw.rectangle((x1, y1 + th, x2, y2 - th), fill=fill)
        draw.rectangle((x1 + tw, y1, x2 - tw, y2), fill=fill)


def _covers_too_much(box: np.ndarray, earlier: list[np.ndarray]) -> bool:
    for other in earlier:
        iw = min(box[2], other[2]) - max(box[0], other[0])
        ih = min(box[3], other[3]) - max(box[1], other[1])
        if iw > 0 and ih > 0 and iw * ih > MAX_HIDDEN * (other[2] - other[0]) * (other[3] - other[1]):
            return True
    return False


def render(rng: np.random.Generator, long_side: int) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """One image, its boxes (int xyxy, continuous pixel edges) and labels (indices into SHAPE_CLASSES)."""
    short = int(rng.integers(int(0.6 * long_side), long_side + 1))
    height, width = (long_side, short) if rng.integers(2) else (short, long_side)
    image = _background(rng, height, width)
    background_mean = np.asarray(image.reduce(8)).reshape(-1, 3).mean(axis=0)
    draw = ImageDraw.Draw(image)
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    for _ in range(rng.integers(MAX_OBJECTS + 1)):
        side = rng.uniform(*SIZE_RANGE) * short
        aspect = rng.uniform(0.6, 1.6)
        w, h = max(8, int(side * np.sqrt(aspect))), max(8, int(side / np.sqrt(aspect)))
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        box = np.array([x, y, x + w, y + h])
        if _covers_too_much(box, boxes):
            continue
        label = int(rng.integers(len(SHAPE_CLASSES)))
        _draw(draw, label, tuple(box), _colour(rng, background_mean), flip=bool(rng.integers(2)))
        boxes.append(box)
        labels.append(label)
    return image, np.array(boxes, dtype=np.int64).reshape(-1, 4), np.array(labels, dtype=np.int64)
