"""Fixtures of the EfficientDet tests: small user datasets (see own_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from own_data import write_own_coco, write_own_voc


@pytest.fixture(scope="module")
def own_voc(tmp_path_factory) -> Path:
    return write_own_voc(tmp_path_factory.mktemp("own") / "shapes", {"trainval": 8, "test": 4})


@pytest.fixture(scope="module")
def own_coco(tmp_path_factory) -> Path:
    return write_own_coco(tmp_path_factory.mktemp("own_coco"), {"train": 8, "val": 4})
