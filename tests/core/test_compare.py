"""`dnn-suite compare`: headline metrics of real tiny-model runs side by side, deltas against
the first run, noise from the runs' own spreads, regressions flagged.

The verdicts are under test here, not the machine: the comparisons pass ``--ignore-busy``, so
that they hold on a shared test machine too (the refusal for a busy machine is tested on
hand-made run records in test_compare_noise.py)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

REPEATED = ("run", "tiny", "--warmup", "1", "--iterations", "10", "--repeat", "3", "--json")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run, and the same benchmark with the same settings slowed down by 50 ms per batch (as a
    slower version of the code would be), and one that differs in a setting."""
    from dnn_suite.cli import main

    root = tmp_path_factory.mktemp("compare")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(Path(__file__).parents[1] / "plugins"))
        patch.setenv("DNN_SUITE_PLUGINS", "tiny_model")
        assert main([*REPEATED, "--output", str(root / "fast")]) == 0
        assert main([*REPEATED, "--output", str(root / "other"), "--set", "model_options.data_delay_s=0.05"]) == 0
        patch.setenv("TINY_DATA_DELAY_S", "0.05")
        assert main([*REPEATED, "--output", str(root / "slow")]) == 0
    (fast,), (slow,), (other,) = (list((root / name).iterdir()) for name in ("fast", "slow", "other"))
    return SimpleNamespace(fast=fast, slow=slow, other=other)


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())["metrics"]


def _compare(cli, *args) -> dict:
    result = cli("compare", *args, "--json", "--ignore-busy")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    return {metric["key"]: metric for metric in data["metrics"]} | {"": data}


def test_a_slower_run_is_a_regression(cli, runs):
    result = cli("compare", runs.fast, runs.slow, "--ignore-busy")
    assert result.code == 0
    fast, slow = _metrics(runs.fast), _metrics(runs.slow)
    line = next(line for line in result.out.splitlines() if line.startswith("throughput "))
    delta = (slow["throughput"]["value"] - fast["throughput"]["value"]) / fast["throughput"]["value"]
    assert f"{fast['throughput']['value']:,.2f}" in line
    assert f"{slow['throughput']['value']:,.2f} {delta:+.1%} REGRESSION (±" in line
    assert "settings differ" not in result.out
    summary = result.out.splitlines()[-1]
    assert "regression(s) beyond noise: throughput (#2), " in summary and "data-loading share (#2)" in summary

    metrics = _compare(cli, runs.fast, runs.slow)
    throughput = metrics["throughput"]
    assert throughput["values"] == [fast["throughput"]["value"], slow["throughput"]["value"]]
    assert throughput["deltas"][1] == pytest.approx(delta) and throughput["deltas"][0] is None
    assert throughput["verdicts"] == ["baseline", "regression"] and throughput["better"] == "higher"
    assert metrics["data_loading_share"]["verdicts"][1] == "regression"
    assert {(r["run"], r["metric"]) for r in metrics[""]["regressions"]} >= {(2, "throughput"),
                                                                              (2, "data_loading_share")}


def test_the_other_way_round_it_is_an_improvement(cli, runs):
    metrics = _compare(cli, runs.slow, runs.fast)
    assert metrics["throughput"]["verdicts"] == ["baseline", "better"]
    assert metrics["data_loading_share"]["better"] == "lower" and metrics["data_loading_share"]["deltas"][1] < 0
    assert metrics[""]["regressions"] == []


def test_a_run_against_itself_is_all_noise(cli, runs):
    result = cli("compare", runs.fast, runs.fast, runs.fast, "--ignore-busy")
    assert result.code == 0 and result.out.splitlines()[-1] == "no regression beyond noise"
    for metric in _compare(cli, runs.fast, runs.fast).values():
        if "verdicts" in metric:
            assert metric["verdicts"] == ["baseline", "noise"] and metric["deltas"][1] == 0


def _with_throughput(source: Path, target: Path, factor: float, spread: bool = True) -> Path:
    """A copy of a run whose throughput is ``factor`` times the original's."""
    shutil.copytree(source, target)
    document = json.loads((target / "run.json").read_text())
    document["metrics"]["throughput"]["value"] *= factor
    if not spread:
        document["metrics"]["throughput_spread"] = None
    (target / "run.json").write_text(json.dumps(document))
    return target


def test_noise_comes_from_the_repeat_spread_else_from_the_step_time_cv(cli, runs, tmp_path):
    metrics = _metrics(runs.fast)
    spread = metrics["throughput_spread"]
    se = spread["cv"] / math.sqrt(len(metrics["windows"]))
    band = max(0.01, 2 * math.hypot(se, se))

    within = _with_throughput(runs.fast, tmp_path / "within", 1 - 0.8 * band)
    beyond = _with_throughput(runs.fast, tmp_path / "beyond", 1 - 1.2 * band)
    throughput = _compare(cli, runs.fast, within, beyond)["throughput"]
    assert throughput["noise"][1:] == [pytest.approx(band), pytest.approx(band)]
    assert throughput["verdicts"] == ["baseline", "noise", "regression"]

    single = _with_throughput(runs.fast, tmp_path / "single", 1.0, spread=False)
    step_se = metrics["step_time_s"]["cv"] / math.sqrt(metrics["iterations"])
    throughput = _compare(cli, runs.fast, single)["throughput"]
    assert throughput["noise"][1] == pytest.approx(max(0.01, 2 * math.hypot(se, step_se)))


def test_fail_on_regression_sets_the_exit_code(cli, runs):
    assert cli("compare", runs.fast, runs.slow, "--fail-on-regression", "--ignore-busy").code == 1
    assert cli("compare", runs.fast, runs.fast, "--fail-on-regression", "--ignore-busy").code == 0
    assert cli("compare", runs.fast, runs.slow, "--ignore-busy").code == 0


def test_a_run_with_another_setting_is_a_different_experiment(cli, runs):
    """The same slowdown asked for through a model option: deltas, no verdict, no regression."""
    result = cli("compare", runs.fast, runs.other, "--ignore-busy", "--fail-on-regression")
    assert result.code == 0
    assert ("  #2: not comparable: a different experiment (settings differ in model_options.data_delay_s): deltas "
            "without verdicts") in result.out.splitlines()
    assert result.out.splitlines()[-1] == "no regression beyond noise"


def test_a_run_records_the_machine_load_and_its_warnings(runs):
    """Every run records how busy the machine was while it measured; its short windows (tiny
    model, 10 iterations) are warned about in run.json."""
    document = json.loads((runs.fast / "run.json").read_text())
    load = document["machine_load"]
    assert set(load) == {"wall_s", "cpus", "own_cpu_s", "others_cpu_s", "others_share", "load_average_start",
                         "load_average_end", "busy"}
    assert 0 < load["wall_s"] <= document["metrics"]["window_time_s"] + 1.0
    assert load["busy"] == (load["others_share"] > 0.10)
    assert any(w.startswith("the shortest measured window lasted ") for w in document["warnings"])


def test_usage_errors(cli, runs, tmp_path):
    result = cli("compare", runs.fast)
    assert result.code == 2 and "compare needs at least two run directories" in result.err
    result = cli("compare", runs.fast, tmp_path)
    assert result.code == 2 and f"{tmp_path}: not a run directory (no run.json)" in result.err
