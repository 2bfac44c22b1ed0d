"""suite.yaml and flags -> run configuration: layering, validation with key paths and lines."""

from __future__ import annotations

import json
import textwrap

import pytest

from dnn_suite.settings.resolve import load_suite, parse_set, resolve
from dnn_suite.errors import UsageError
from dnn_suite.plugins import discover

SUITE = """\
defaults:
  warmup: 1
  iterations: 3
  profilers: [cpu]
benchmarks:
  tiny-wide-long:
    model: tiny
    variant: wide
    batch_size: 2
    duration: 0.2
    model_options:
      features: 6
  tiny-quick:
    model: tiny-wide
    iterations: 2
"""


@pytest.fixture
def registry(tiny_plugin):
    return discover()


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    return path


def test_layers_defaults_entry_then_flags(registry, suite_file):
    suite = load_suite(suite_file)
    config = resolve("tiny-wide-long", registry, suite=suite)
    assert (config.model, config.variant, config.batch_size, config.warmup) == ("tiny", "wide", 2, 1)
    assert config.duration == 0.2 and config.iterations is None  # the entry's duration replaces iterations
    assert config.profilers == ["cpu"] and config.benchmark == "tiny-wide-long"
    assert config.model_options["features"] == 6 and config.model_options["lr"] == 0.05
    flagged = resolve("tiny-wide-long", registry, suite=suite, flags=parse_set(["iterations=4", "model_options.lr=1"]))
    assert flagged.iterations == 4 and flagged.duration is None and flagged.model_options["lr"] == 1.0
    assert resolve("tiny-quick", registry, suite=suite).variant == "wide"  # model-variant name in an entry


def test_model_defaults_without_a_suite(registry):
    config = resolve("tiny", registry)
    assert (config.variant, config.dataset, config.batch_size, config.profilers) == ("small", "random", 4, [])
    assert config.profiler_options == {}


def test_profiler_aliases_and_options(registry):
    config = resolve("tiny", registry, flags=parse_set(["profilers=[cpu, cpu]", "profiler_options.cpu.interval_ms=20"]))
    assert config.profilers == ["cpu"]
    assert config.profiler_options["cpu"] == {"interval_ms": 20}
    with pytest.raises(UsageError, match="profiler cpu: unknown option 'rate'"):
        resolve("tiny", registry, flags=parse_set(["profiler_options.cpu.rate=2"]))


@pytest.mark.parametrize(
    "text, message",
    [
        ("defaults:\n  warmup: 1\n  batchsize: 3\n", r"suite.yaml:3: defaults.batchsize: unknown key \(allowed: variant"),
        ("defaults:\n  iterations: -1\n", r"suite.yaml:2: defaults.iterations: expected a positive integer, got -1"),
        ("benchmarks:\n  a:\n    model: tiny\n    device: gpu\n", r"suite.yaml:4: benchmarks.a.device: expected auto, cpu"),
        ("benchmarks:\n  a:\n    variant: d0\n", r"suite.yaml:2: benchmarks.a: expected a mapping with at least 'model'"),
        ("defaults:\n  model: tiny\n", r"suite.yaml:2: defaults.model: unknown key"),
        ("profiles: {}\n", r"suite.yaml:1: profiles: unknown key \(allowed: defaults, benchmarks\)"),
        ("defaults: [1, 2\n", r"suite.yaml:\d+: invalid YAML"),
        ("- 1\n- 2\n", r"suite.yaml: expected a mapping"),
    ],
)
def test_suite_errors_name_file_key_path_and_line(tmp_path, text, message):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_suite(path)


def test_run_by_benchmark_name_through_the_cli(tiny_plugin, cli, suite_file, tmp_path):
    result = cli("run", "--config", suite_file, "tiny-quick", "--output", tmp_path / "out", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["config"]["benchmark"] == "tiny-quick"
    assert document["metrics"]["iterations"] == 2
    assert "cpu" in document["profilers"]


def test_repository_suite_yaml_is_valid():
    from pathlib import Path

    suite = load_suite(Path(__file__).parents[2] / "suite.yaml")
    assert suite.benchmarks, "suite.yaml should name at least one benchmark"
    for name, entry in suite.benchmarks.items():
        assert "model" in entry, name
