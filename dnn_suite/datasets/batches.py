"""The one check every training loader makes of its dataset's size."""

from __future__ import annotations

from dnn_suite.errors import UsageError


def check_one_batch(dataset: str, images: int, batch_size: int, world_size: int = 1) -> None:
    """Refuse a training set smaller than one batch of every process: training drops the last
    partial batch, so it would never take a step (a sampler of no images fails inside torch)."""
    if images < batch_size * world_size:
        batch = f"{batch_size * world_size} ({world_size} processes of {batch_size})" if world_size > 1 \
            else str(batch_size)
        raise UsageError(f"dataset {dataset} has {images} training images, fewer than one batch of {batch}; "
                         "lower --batch-size")
