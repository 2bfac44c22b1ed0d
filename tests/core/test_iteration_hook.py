"""The per-iteration hook on a real tiny run: a profiler's wrapper surrounds every warmup and
measured iteration, in order, each holding the fetch of its batch and its train step."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def test_a_wrapper_surrounds_every_iteration_with_its_fetch_and_step(tiny_plugin, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("DNN_SUITE_PLUGINS", "tiny_model,tiny_iteration_log")
    delay = 0.01
    result = cli("run", "tiny", "--profiler", "iterlog", "--warmup", 2, "--iterations", 3, "--repeat", 2,
                 "--set", f"model_options.data_delay_s={delay}", "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    run_dir = Path(json.loads(result.out)["run_dir"])
    log = json.loads((run_dir / "iterlog" / "iterations.json").read_text())
    assert [(e["window"], e["index"]) for e in log] == [(-1, 0), (-1, 1), (0, 0), (0, 1), (0, 2), (1, 0), (1, 1),
                                                       (1, 2)]
    assert all(e["steps"] == 1 for e in log)  # the train step ran inside the wrapper, once
    assert all(e["seconds"] >= delay for e in log)  # and so did the fetch (the data loader sleeps per batch)
    with open(run_dir / "iterations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # what the wrapper handed back is the runner's record of the iteration: the measured ones all reach the results
    assert [(int(r["window"]), int(r["iteration"])) for r in rows] == [(e["window"], e["index"]) for e in log[2:]]
    assert all(float(r["data_wait_s"]) >= delay for r in rows)
