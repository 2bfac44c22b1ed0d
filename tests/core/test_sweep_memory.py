"""A batch-size sweep with the memory profiler: the fit across its points in sweep.json and the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dnn_suite.run.sweep_table import format_sweep


@pytest.mark.slow
def test_sweep_fits_memory_against_batch_size(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--batch-size", "1,2,4", "--profiler", "memory", "--warmup", 1, "--iterations", 1,
                 "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    fit = document["memory_fit"]
    assert fit["batch_sizes"] == [1, 2] and fit["unit"] == "bytes"
    assert fit["lines"]["parameters"]["per_sample"] == 0 and fit["lines"]["activations"]["per_sample"] > 0
    check = fit["check"]
    measured = json.loads(next(Path(p) for p in Path(tmp_path).glob("*/*_bs4/run.json")).read_text())
    assert check["batch_size"] == 4
    assert check["measured"] == measured["profilers"]["memory"]["metrics"]["peak_total"]["value"]
    assert abs(check["error_pct"]) < 10
    assert fit["largest_batch_size"] >= 4
    table = format_sweep(document, tmp_path)
    assert "memory fit on batch sizes 1, 2:" in table and "Checked at batch size 4:" in table
