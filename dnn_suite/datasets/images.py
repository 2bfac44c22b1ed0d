"""Decoding the images of a dataset: one for a loader (:func:`read_rgb`), and every one for
``dnn-suite data check --images``, in worker processes.

Opening a file reads only its header; a truncated JPEG or PNG fails only when its pixels are
decoded, which during training happens hours in. So each image is fully decoded (PIL's
``load()``, with truncated files an error, PIL's default) in a pool of processes, in chunks,
with a progress bar, and every failure is kept, not only the first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from dnn_suite.errors import UsageError
from dnn_suite.progress import progress

if TYPE_CHECKING:
    import PIL.Image

CHUNK = 64


def _problem(error: Exception, path: str | Path) -> str:
    """What PIL's error says about the file at ``path``, without its name (the message names it)."""
    from PIL import UnidentifiedImageError

    if isinstance(error, FileNotFoundError):
        return f"a link to {os.readlink(path)}, which does not exist" if os.path.islink(path) else "no such file"
    if isinstance(error, UnidentifiedImageError):
        return "cannot identify image file; expected a JPEG, PNG or other image format PIL reads"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return " ".join(str(error).split()) or "cannot be decoded"


def decode_problem(path: str) -> str | None:
    """Why ``path`` cannot be decoded as an image, or None when it can."""
    from PIL import Image  # in the worker: the parent never needs PIL

    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError) as error:  # PIL's decoders raise all three on bad data
        return _problem(error, path)
    return None


def read_rgb(path: str | Path) -> PIL.Image.Image:
    """The image at ``path`` decoded as RGB; a file that is not one is the data's fault (UsageError)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        raise UsageError(f"cannot read image {path}: {_problem(error, path)}") from None


def _decode_chunk(paths: Sequence[str]) -> list[tuple[str, str]]:
    return [(path, problem) for path in paths if (problem := decode_problem(path)) is not None]


def unreadable_images(paths: Sequence[Path], *, workers: int | None = None,
                      label: str = "images") -> list[tuple[Path, str]]:
    """``(path, reason)`` of every image in ``paths`` that does not decode, in ``paths`` order."""
    workers = workers or min(len(os.sched_getaffinity(0)), 8)
    chunks = [[str(p) for p in paths[i:i + CHUNK]] for i in range(0, len(paths), CHUNK)]
    problems: list[tuple[Path, str]] = []
    with progress(total=len(paths), label=label, unit="img") as bar, \
            ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for chunk, found in zip(chunks, pool.map(_decode_chunk, chunks)):
            problems.extend((Path(path), reason) for path, reason in found)
            bar.update(len(chunk))
    return problems
