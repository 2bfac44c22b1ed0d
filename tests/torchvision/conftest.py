"""Fixtures of the torchvision classifiers' tests: a run on tiny settings (tv_tiny.py)."""

from __future__ import annotations

import json

import pytest

from tv_tiny import TINY


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
