"""dnn_suite.reporting.compare on two hand-written run.json files whose noise bands are worked out by hand.

Run 1 (baseline): 4 windows with throughput CV 2% -> throughput s.e. 0.02 / 2 = 0.01; 25 iterations,
step CV 10% -> step s.e. 0.02; data-wait CV 30% -> 0.06; data share 20% -> data s.e.
0.8 * hypot(0.06, 0.02). Run 2: one window, so its throughput s.e. is its step s.e.: 16 iterations,
step CV 20% -> 0.05; data-wait CV 40% -> 0.1; data s.e. 0.8 * hypot(0.1, 0.05).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from dnn_suite.reporting.compare import (
    NOISE_FLOOR,
    compare,
    compare_runs,
    format_comparison,
    regressions,
    relative_noise,
)
from dnn_suite.reporting.rundirs import RunDir

MIB = 2**20


def _document(throughput, windows, spread_cv, iterations, step_cv, median, p90, wait_cv, profilers, memory):
    return {
        "schema_version": 1, "status": "ok", "device": "cpu",
        "config": {"model": "tiny", "variant": "small", "batch_size": 4, "iterations": iterations, "repeat": windows},
        "metrics": {"throughput": {"value": throughput}, "windows": [{}] * windows,
                    "throughput_spread": {"cv": spread_cv} if spread_cv is not None else None,
                    "iterations": iterations, "step_time_s": {"cv": step_cv, "median": median, "p90": p90},
                    "data_wait_s": {"cv": wait_cv}, "data_loading_share": 0.2, "memory": memory},
        "profilers": {"cpu": {"metrics": profilers}},
    }


BASE = _document(100.0, 4, 0.02, 25, 0.1, 0.05, 0.08, 0.3, {"process_cpu_mean": {"value": 150.0, "unit": "%"}},
                 {"max_rss_bytes": 100 * MIB, "cuda_max_allocated_bytes": 0})
OTHER = _document(80.0, 1, None, 16, 0.2, 0.06, 0.07, 0.4, {"process_cpu_mean": {"value": 200.0, "unit": "%"},
                                                             "gpu_util_mean": {"value": 50.0, "unit": "%"}},
                  {"max_rss_bytes": 100 * MIB, "cuda_max_allocated_bytes": 5 * MIB})
STEP_BAND = 2 * math.hypot(0.02, 0.05)
THROUGHPUT_BAND = 2 * math.hypot(0.01, 0.05)
DATA_BAND = 2 * math.hypot(0.8 * math.hypot(0.06, 0.02), 0.8 * math.hypot(0.1, 0.05))


def _runs(tmp_path: Path | None = None) -> list[RunDir]:
    runs = [RunDir(Path(f"/runs/{name}"), document) for name, document in (("one", BASE), ("two", OTHER))]
    if tmp_path is not None:
        for run in runs:
            run.path = tmp_path / run.path.name
            run.path.mkdir()
            (run.path / "run.json").write_text(json.dumps(run.document))
    return runs


def test_relative_noise_of_each_source():
    one, two = _runs()
    assert relative_noise(one, "throughput") == pytest.approx(0.01)
    assert relative_noise(two, "throughput") == pytest.approx(0.05)  # no repeat spread: the step time's
    assert relative_noise(one, "step") == pytest.approx(0.02)
    assert relative_noise(one, "data") == pytest.approx(0.8 * math.hypot(0.06, 0.02))
    assert relative_noise(one, "") == 0.0 and relative_noise(one, "memory") == 0.0
    empty = RunDir(Path("x"), {"metrics": {"step_time_s": {"cv": 0.5}, "data_loading_share": None}})
    assert relative_noise(empty, "step") == 0.0 and relative_noise(empty, "data") == 0.0  # no iterations, no share


def test_verdicts_deltas_and_bands():
    rows = {row.headline.key: row.cells for row in compare(_runs())}
    assert list(rows) == ["throughput", "step_time_median", "step_time_p90", "data_loading_share", "max_rss",
                          "cuda_max_allocated", "cpu.process_cpu_mean", "cpu.gpu_util_mean"]
    expected = {  # key: (value of run 2, delta, band, verdict)
        "throughput": (80.0, -0.2, THROUGHPUT_BAND, "regression"),  # higher is better
        "step_time_median": (60.0, 0.2, STEP_BAND, "regression"),  # lower is better
        "step_time_p90": (70.0, -0.125, STEP_BAND, "better"),
        "data_loading_share": (20.0, 0.0, DATA_BAND, "noise"),
        "max_rss": (100.0, 0.0, NOISE_FLOOR, "noise"),  # no noise estimate: the floor
        "cpu.process_cpu_mean": (200.0, 1 / 3, THROUGHPUT_BAND, "changed"),  # neither direction is better
    }
    for key, (value, delta, band, verdict) in expected.items():
        base, cell = rows[key]
        assert base.verdict == "baseline" and base.delta is None, key
        assert (cell.value, cell.delta, cell.noise, cell.verdict) == (
            pytest.approx(value), pytest.approx(delta), pytest.approx(band), verdict), key
    # a zero or missing baseline gives no delta
    assert [(c.value, c.delta, c.verdict) for c in rows["cuda_max_allocated"]] == [(0.0, None, "baseline"),
                                                                                   (5.0, None, "n/a")]
    assert [(c.value, c.delta, c.verdict) for c in rows["cpu.gpu_util_mean"]] == [(None, None, "n/a"),
                                                                                  (50.0, None, "n/a")]


def test_a_delta_exactly_on_the_band_is_noise():
    one, two = _runs()
    one.document = json.loads(json.dumps(BASE))
    two.document = json.loads(json.dumps(BASE))
    two.document["metrics"]["memory"]["max_rss_bytes"] = 101 * MIB  # +1%: the floor itself
    cells = {row.headline.key: row.cells for row in compare([one, two])}
    assert cells["max_rss"][1].delta == pytest.approx(NOISE_FLOOR) and cells["max_rss"][1].verdict == "noise"
    two.document["metrics"]["memory"]["max_rss_bytes"] = 99 * MIB
    assert {row.headline.key: row.cells for row in compare([one, two])}["max_rss"][1].verdict == "noise"


def test_regressions_name_the_run_from_one():
    flagged = regressions(compare(_runs()))
    assert [(headline.key, index) for headline, index, _ in flagged] == [("throughput", 2), ("step_time_median", 2)]


def test_a_run_of_a_duration_shows_its_seconds():
    one, two = _runs()
    two.document = json.loads(json.dumps(OTHER))
    del two.document["config"]["iterations"]
    two.document["config"]["duration"] = 30
    assert format_comparison([one, two], compare([one, two])).splitlines()[2].endswith("; 30 s x1; ok")


def test_the_printed_table(tmp_path):
    runs = _runs(tmp_path)
    lines = format_comparison(runs, compare(runs)).splitlines()
    assert lines[0] == "runs (deltas against #1; noise: 2 standard errors of both runs, at least 1%)"
    assert lines[1] == f"  #1  {runs[0].path}  tiny small, bs 4, cpu; 25 iterations x4; ok"
    assert lines[2] == f"  #2  {runs[1].path}  tiny small, bs 4, cpu; 16 iterations x1; ok"
    # how long each measured is not a difference in what they measured: no "differ" line
    table = {cells[0]: cells[1:] for cells in (re.split(r" {2,}", line.strip()) for line in lines[3:])}
    assert table["metric"] == ["unit", "#1", "#2"]
    assert table["throughput"] == ["samples/s", "100.00", f"80.00 -20.0% REGRESSION (±{THROUGHPUT_BAND:.1%})"]
    assert table["step time p90"] == ["ms", "80.00", f"70.00 -12.5% better (±{STEP_BAND:.1%})"]
    assert table["peak memory (max RSS)"] == ["MiB", "100", "100 +0.0% (noise, ±1.0%)"]
    assert table["process CPU (cpu)"] == ["%", "150.0", f"200.0 +33.3% changed (±{THROUGHPUT_BAND:.1%})"]
    assert table["GPU utilization (cpu)"] == ["%", "n/a", "50.0"]
    # columns line up: every row's #2 cell starts where the header's "#2" does, two spaces after #1's widest
    column = lines[3].index("#2")
    assert all(line[column - 2:column] == "  " and line[column] != " " for line in lines[3:])
    assert lines[3].index("#2") - lines[3].index("#1") == len("100.00") + 2
    assert all(line == line.rstrip() for line in lines)


def test_compare_runs_prints_and_sets_the_exit_code(tmp_path, capsys):
    one, two = (run.path for run in _runs(tmp_path))
    assert compare_runs([one, two]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("runs (deltas against #1") and out[3].startswith("metric")
    assert out[-1] == "2 regression(s) beyond noise: throughput (#2), step time median (#2)"
    assert compare_runs([one, two], fail_on_regression=True) == 1
    capsys.readouterr()
    assert compare_runs([one, one], fail_on_regression=True) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no regression beyond noise"


def test_compare_runs_as_json(tmp_path, capsys):
    one, two = (run.path for run in _runs(tmp_path))
    assert compare_runs([one, two], as_json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["baseline"] == str(one) and data["noise"] == {"sigmas": 2.0, "floor": 0.01}
    assert data["runs"][1] == {"index": 2, "path": str(two), "description": "tiny small, bs 4, cpu", "status": "ok",
                               "verdicts": "all", "reason": None, "warnings": []}
    assert data["differences"] == []  # the iterations and windows do not change what a step measures
    throughput = data["metrics"][0]
    assert {k: v for k, v in throughput.items() if k not in ("deltas", "noise")} == {
        "key": "throughput", "label": "throughput", "unit": "samples/s", "better": "higher", "values": [100.0, 80.0],
        "verdicts": ["baseline", "regression"]}
    assert throughput["deltas"] == [None, pytest.approx(-0.2)] and throughput["noise"] == [None, pytest.approx(THROUGHPUT_BAND)]
    assert data["metrics"][6]["better"] is None  # process CPU: neither direction
    assert data["regressions"] == [{"run": 2, "metric": "throughput", "delta": pytest.approx(-0.2)},
                                   {"run": 2, "metric": "step_time_median", "delta": pytest.approx(0.2)}]


def test_one_run_is_not_a_comparison(tmp_path):
    from dnn_suite.errors import UsageError

    with pytest.raises(UsageError, match=r"^compare needs at least two run directories \(the first is the baseline\)$"):
        compare_runs([tmp_path])


def test_runs_of_different_models_name_them_once_each_and_leave_out_their_model_options():
    one, two = _runs()
    two.document = json.loads(json.dumps(OTHER))
    two.document["config"].update(model="resnet50", variant=None, model_options={"lr": 0.1, "width": 2})
    three = RunDir(Path("/runs/three"), json.loads(json.dumps(BASE)))
    three.document["config"]["model_options"] = {"lr": 0.2}
    lines = format_comparison([one, two, three], compare([one, two, three])).splitlines()
    assert lines[4:8] == [
        "  #2: not comparable: a different experiment (settings differ in model, variant): deltas without verdicts",
        "  #3: not comparable: a different experiment (settings differ in model_options.lr): deltas without "
        "verdicts",
        "  different models: tiny small vs resnet50 None; their model options are not compared",
        "  the runs' settings differ in: model, variant",
    ]
    assert lines[8].split() == ["metric", "unit", "#1", "#2", "#3"]


def _pair(**changes) -> list[RunDir]:
    """BASE and a copy of it with ``changes`` (``config.KEY`` / ``metrics.KEY`` / top-level keys)."""
    one, two = (RunDir(Path(f"/runs/{name}"), json.loads(json.dumps(BASE))) for name in ("one", "two"))
    for key, value in changes.items():
        where, _, name = key.rpartition(".")
        (two.document[where] if where else two.document)[name] = value
    return [one, two]


def test_runs_differing_only_in_batch_size_are_compared_per_sample_and_say_so():
    """Batch 8 against batch 4: twice the step time is the same time per sample (noise, not a
    regression); memory grows with the batch and gets no verdict."""
    runs = _pair(**{"config.batch_size": 8})
    runs[1].document["metrics"]["step_time_s"].update(median=0.1, p90=0.16)
    runs[1].document["metrics"]["memory"]["max_rss_bytes"] = 150 * MIB
    rows = {row.headline.key: row.cells[1] for row in compare(runs)}
    assert (rows["step_time_median"].delta, rows["step_time_median"].verdict) == (pytest.approx(0.0), "noise")
    assert rows["throughput"].verdict == "noise"
    assert (rows["max_rss"].delta, rows["max_rss"].verdict) == (pytest.approx(0.5), "not compared")
    assert rows["data_loading_share"].verdict == "not compared"
    lines = format_comparison(runs, compare(runs)).splitlines()
    assert "  #2: only the batch size differs (4 vs 8): throughput and step time are compared per sample, the " \
           "other numbers are not" in lines
    assert "peak memory (max RSS)       MiB        100     150 +50.0%" in lines


def test_profiler_options_and_the_measurement_length_are_no_difference():
    runs = _pair(**{"config.profiler_options": {"nvml": {"interval_ms": 50}}, "config.iterations": 100,
                    "config.seed": 7})
    assert "differ" not in format_comparison(runs, compare(runs))
    assert {row.cells[1].verdict for row in compare(runs)} <= {"noise", "n/a"}


def test_a_different_setting_is_a_different_experiment_without_verdicts():
    runs = _pair(**{"config.profilers": ["nvml"]})
    runs[1].document["metrics"]["throughput"]["value"] = 50.0
    cells = {row.headline.key: row.cells[1] for row in compare(runs)}
    assert (cells["throughput"].delta, cells["throughput"].verdict) == (pytest.approx(-0.5), "not compared")
    assert regressions(compare(runs)) == []
    assert ("  #2: not comparable: a different experiment (settings differ in profilers): deltas without verdicts"
            in format_comparison(runs, compare(runs)).splitlines())


BUSY = {"wall_s": 10.0, "cpus": 2, "own_cpu_s": 9.0, "others_cpu_s": 7.0, "others_share": 0.35,
        "load_average_start": 1.2, "load_average_end": 2.4, "busy": True}


def test_a_run_measured_on_a_busy_machine_gets_no_verdict_unless_asked():
    runs = _pair(machine_load=BUSY)
    runs[1].document["metrics"]["throughput"]["value"] = 137.0  # +37% from load alone
    assert {row.cells[1].verdict for row in compare(runs)} <= {"not compared", "n/a"}
    lines = format_comparison(runs, compare(runs)).splitlines()
    assert ("  #2: not comparable: the machine was busy during #2 (other processes took CPU time while it "
            "measured; --ignore-busy to compare anyway)") in lines
    assert lines[3].startswith("      warning: the machine was busy while this run measured: other processes took "
                               "35% of its CPU time (7.0 s over 10.0 s on 2 CPUs; load average 2.4)")
    assert {row.headline.key: row.cells[1].verdict for row in compare(runs, ignore_busy=True)}["throughput"] == "better"
    busy_baseline = list(reversed(_pair(machine_load=BUSY)))
    assert "busy during #1" in format_comparison(busy_baseline, compare(busy_baseline))


def test_a_short_or_noisy_window_is_warned_about_in_the_comparison(tmp_path, capsys):
    runs = _pair(**{"metrics.windows": [{"wall_s": 0.05}]})
    runs[1].document["metrics"]["step_time_s"]["cv"] = 0.49
    for run in runs:
        run.path = tmp_path / run.path.name
        run.path.mkdir()
        (run.path / "run.json").write_text(json.dumps(run.document))
    assert compare_runs([run.path for run in runs], as_json=True) == 0
    warnings = json.loads(capsys.readouterr().out)["runs"][1]["warnings"]
    assert warnings == [
        "the measured window lasted 0.05 s, under 1 s: one slow step and the clock's resolution weigh on its "
        "numbers; measure for longer (--duration 10, or more --iterations)",
        "step times vary by 49% (coefficient of variation, above 25%): the mean is not a steady state; warm up "
        "longer (--warmup) and measure more iterations (--iterations) or windows (--repeat 3)"]
