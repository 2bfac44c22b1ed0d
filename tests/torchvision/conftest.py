"""Tiny settings for the torchvision classifiers' tests: small images, few images, no workers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

TINY = ["--image-size", "32", "--batch-size", "4", "--workers", "0", "--warmup", "0",
        "--set", "model_options.synthetic_train=8", "--set", "model_options.synthetic_val=8"]


def losses(run_dir: Path) -> list[float]:
    with open(run_dir / "iterations.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


@pytest.fixture
def run_tiny(cli, tmp_path):
    """`dnn-suite run MODEL` on tiny settings (plus ``args``); returns its run.json as a dict."""

    def invoke(model: str, *args: str) -> dict:
        result = cli("run", model, *TINY, "--output", tmp_path / "results", "--json", *args)
        assert result.code == 0, result.err
        document = json.loads(result.out)
        assert document["status"] == "ok", document["error"]
        return document

    return invoke
