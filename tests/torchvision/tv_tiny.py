"""Tiny settings for the torchvision classifiers' tests (a module of its own: test modules of
several folders import their folder's helpers by name, so a `conftest` import would be ambiguous)."""

from __future__ import annotations

import csv
from pathlib import Path

TINY = ["--image-size", "32", "--batch-size", "4", "--workers", "0", "--warmup", "0",
        "--set", "model_options.synthetic_train=8", "--set", "model_options.synthetic_val=8"]


def losses(run_dir: Path) -> list[float]:
    with open(run_dir / "iterations.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]
