"""Sweeps over any setting: the declaration (suite.yaml ``sweep:``, ``--sweep KEY=V1,V2``), its checks
before anything runs (file:line, the option a swept model lacks), how later layers replace an axis,
and a real sweep of models x a model option whose points run in their own processes."""

from __future__ import annotations

import json
import textwrap

import pytest

from dnn_suite.errors import UsageError
from dnn_suite.plugins import discover
from dnn_suite.reporting.rundirs import load_runs
from dnn_suite.run.sweep_table import format_sweep
from dnn_suite.settings.resolve import load_suite, resolve, with_point
from dnn_suite.settings.sweep_axes import combinations, parse_flags


@pytest.fixture
def registry(tiny_plugin):
    return discover()


def _suite(tmp_path, text):
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return load_suite(path)


def test_a_suite_entry_sweeps_models_and_a_model_option(registry, tmp_path):
    suite = _suite(tmp_path, """\
        benchmarks:
          grid:
            sweep:
              model: [resnet18, mobilenet_v3_small]
              model_options.amp: [false, true]
            model_options: {image_size: 32}
        """)
    config = resolve("grid", registry, suite=suite)
    assert config.is_sweep and config.sweep == {"model": ["resnet18", "mobilenet_v3_small"],
                                                "model_options.amp": [False, True]}
    assert config.model == "resnet18"  # the sweep's first model where one is needed
    assert combinations(config.sweep) == [
        {"model": "resnet18", "model_options.amp": False}, {"model": "resnet18", "model_options.amp": True},
        {"model": "mobilenet_v3_small", "model_options.amp": False},
        {"model": "mobilenet_v3_small", "model_options.amp": True}]
    point = resolve("grid", registry, suite=suite,
                    flags=with_point({}, {"model": "mobilenet_v3_small", "model_options.amp": True}))
    assert (point.model, point.model_options["amp"], point.model_options["image_size"]) == (
        "mobilenet_v3_small", True, 32)
    assert point.sweep is None and not point.is_sweep and point.benchmark == "grid"


def test_a_model_option_that_a_swept_model_lacks_is_refused_with_its_line(registry, tmp_path):
    suite = _suite(tmp_path, """\
        benchmarks:
          grid:
            sweep:
              model: [resnet18, tiny]
              model_options.amp: [false, true]
        """)
    with pytest.raises(UsageError, match=r"suite.yaml:5: benchmarks.grid.sweep.model_options.amp: model tiny has "
                                         r"no option 'amp' \(its options: lr, features"):
        resolve("grid", registry, suite=suite)


@pytest.mark.parametrize("text, message", [
    ("sweep: {bogus: [1, 2]}", r"suite.yaml:4: benchmarks.s.sweep.bogus: unknown setting \(a sweep takes model, "
                               r"variant, dataset, batch_size.*model_options.NAME"),
    ("sweep: {batch_size: [2, 0]}", r"suite.yaml:4: benchmarks.s.sweep.batch_size: expected a list of values each "
                                    r"a positive integer up to 1,048,576, got 0"),
    ("sweep: {batch_size: 8}", r"suite.yaml:4: benchmarks.s.sweep.batch_size: expected a non-empty list of values, "
                               r"got 8"),
    ("sweep: {workers: [1, 1]}", r"sweep.workers: lists 1 twice"),
    ("sweep: {output: [a, b]}", r"sweep.output: cannot be swept \(every point writes into the sweep's directory\)"),
    ("sweep: {profilers: [[cpu]]}", r"sweep.profilers: cannot be swept"),
    ("sweep: [1, 2]", r"suite.yaml:4: benchmarks.s.sweep: expected a mapping of settings"),
])
def test_bad_sweeps_in_suite_yaml_are_refused_with_their_place(registry, tmp_path, text, message):
    path = tmp_path / "suite.yaml"
    path.write_text(f"benchmarks:\n  s:\n    model: tiny\n    {text}\n")
    with pytest.raises(UsageError, match=message):
        load_suite(path)


def test_values_the_plugins_refuse_are_refused_before_anything_runs(registry, tmp_path):
    suite = _suite(tmp_path, """\
        benchmarks:
          s:
            model: tiny
            sweep:
              variant: [small, huge]
        """)
    with pytest.raises(UsageError, match=r"suite.yaml:5: benchmarks.s.sweep.variant: unknown variant of tiny "
                                         r"'huge'"):
        resolve("s", registry, suite=suite)
    with pytest.raises(UsageError, match=r"--sweep model: unknown model 'resnet5'"):
        resolve("tiny", registry, flags={"sweep": parse_flags(["model=tiny,resnet5"])})
    with pytest.raises(UsageError, match=r"--sweep model_options.lr: model tiny option 'lr': expected float, "
                                         r"got 'fast'"):
        resolve("tiny", registry, flags={"sweep": parse_flags(["model_options.lr=0.1,fast"])})


def test_the_flag_reads_each_value_as_yaml():
    assert parse_flags(["model=resnet18,resnet50", "model_options.amp=false,true", "batch_size=[2, 4]",
                        "workers=0,2"]) == {"model": ["resnet18", "resnet50"], "model_options.amp": [False, True],
                                            "batch_size": [2, 4], "workers": [0, 2]}
    for pair, message in [("model", "expected KEY=V1,V2"), ("workers=-1,2", "--sweep workers: expected a list of "
                                                                           "values each an integer >= 0, got -1")]:
        with pytest.raises(UsageError, match=message):
            parse_flags([pair])
    with pytest.raises(UsageError, match="--sweep workers: given twice"):
        parse_flags(["workers=0", "workers=1"])


def test_a_value_given_later_replaces_the_sweep_of_it(registry, tmp_path):
    suite = _suite(tmp_path, """\
        benchmarks:
          s:
            model: tiny
            sweep: {batch_size: [2, 4], model_options.lr: [0.1, 0.2]}
        """)
    config = resolve("s", registry, suite=suite, flags={"model_options": {"lr": 0.3}})
    assert config.sweep == {"batch_size": [2, 4]} and config.model_options["lr"] == 0.3
    single = resolve("s", registry, suite=suite, flags={"batch_size": 8, "model_options": {"lr": 0.3}})
    assert single.sweep is None and not single.is_sweep and single.batch_size == 8
    both = resolve("s", registry, suite=suite, flags={"batch_sizes": [1, 3]})  # --batch-size 1,3
    assert both.sweep == {"model_options.lr": [0.1, 0.2]} and both.batch_sizes == [1, 3]


def test_the_command_line_refuses_a_sweep_where_it_cannot_run(tiny_plugin, cli, tmp_path):
    bad = cli("run", "tiny", "--sweep", "model_options.lr=0.1,fast", "--output", tmp_path)
    assert bad.code == 2 and bad.err == ("dnn-suite: error: --sweep model_options.lr: model tiny option 'lr': "
                                         "expected float, got 'fast'\n")
    assert list(tmp_path.iterdir()) == []
    # an option given for every point that one swept model lacks: refused with the point, nothing run
    lacking = cli("run", "tiny", "--sweep", "model=tiny,resnet18", "--set", "model_options.features=8", "--output",
                  tmp_path)
    assert lacking.code == 2 and lacking.err.startswith("dnn-suite: error: sweep point model=resnet18: model "
                                                        "resnet18: unknown option 'features'"), lacking.err
    assert list(tmp_path.iterdir()) == []
    train = cli("train", "s", "--config", _write(tmp_path, "sweep: {workers: [0, 1]}"))
    assert train.code == 2 and "a sweep is for `dnn-suite run`" in train.err


def _write(tmp_path, text):
    path = tmp_path / "suite.yaml"
    path.write_text(f"benchmarks:\n  s:\n    model: tiny\n    {text}\n")
    return path


@pytest.mark.slow
def test_a_sweep_of_two_models_and_a_model_option_runs_each_point_in_its_own_process(tiny_plugin, cli, tmp_path):
    result = cli("run", "resnet18", "--sweep", "model=resnet18,mobilenet_v3_small", "--sweep",
                 "model_options.amp=false,true", "--image-size", 32, "--batch-size", 2, "--warmup", 1,
                 "--iterations", 2, "--workers", 0, "--output", tmp_path)
    assert result.code == 0, result.err
    (sweep_dir,) = tmp_path.iterdir()
    assert sweep_dir.name.endswith("_sweep_resnet18+mobilenet_v3_small")
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    assert sweep["status"] == "ok"
    assert sweep["sweep"] == {"model": ["resnet18", "mobilenet_v3_small"], "model_options.amp": [False, True]}
    settings = [point["settings"] for point in sweep["points"]]
    assert settings == [{"model": m, "model_options.amp": a} for m in ("resnet18", "mobilenet_v3_small")
                        for a in (False, True)]
    runs, is_sweep = load_runs(sweep_dir)
    assert is_sweep and [(r.config["model"], r.config["model_options"]["amp"], r.config["model_options"]["image_size"])
                         for r in runs] == [(s["model"], s["model_options.amp"], 32) for s in settings]
    assert all(run.document["status"] == "ok" and run.config["batch_size"] == 2 for run in runs)
    assert [run.config["benchmark"] for run in runs] == ["sweep.1", "sweep.2", "sweep.3", "sweep.4"]
    # the table shows the settings that vary, a row per point
    lines = result.out.splitlines()
    assert lines[0].split()[:5] == ["batch", "model", "model_options.amp", "profilers", "status"]
    assert [line.split()[:5] for line in lines[1:5]] == [
        ["2", m, a, "-", "ok"] for m in ("resnet18", "mobilenet_v3_small") for a in ("false", "true")]
    assert format_sweep(sweep, sweep_dir) == result.out.rstrip("\n")
    # the report of the sweep too
    assert cli("report", sweep_dir).code == 0
    report = (sweep_dir / "report.md").read_text()
    assert "| # | run | status | batch size | model | model_options.amp | throughput" in report
