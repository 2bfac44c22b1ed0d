"""The third-party example package in examples/ is found through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "dnn-suite-example"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True,
    )
    return target


def test_example_is_listed_and_runs(installed_example, cli_process, tmp_path):
    env = {"PYTHONPATH": str(installed_example)}
    listing = cli_process("list", "--json", env=env)
    assert listing.code == 0, listing.err
    model = next(m for m in json.loads(listing.out)["models"] if m["name"] == "linreg")
    assert (model["distribution"], model["version"], model["plugin"]) == ("dnn-suite-example", "0.1.0", "example")

    result = cli_process("run", "linreg-wide", "--iterations", "3", "--evaluate", "--lr", "0.02",
                         "--output", tmp_path, "--json", env=env)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["status"] == "ok" and document["model"]["distribution"] == "dnn-suite-example"
    assert document["config"]["model_options"]["lr"] == 0.02
    assert document["metrics"]["samples"] == 48 and document["evaluation"]["mse"] >= 0
