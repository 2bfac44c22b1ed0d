"""Bad input: one line on stderr, exit code 2, no traceback (unless --debug)."""

from __future__ import annotations

import pytest
import torch


def _one_line_error(result, *fragments: str) -> None:
    assert result.code == 2, (result.out, result.err)
    lines = [line for line in result.err.strip().splitlines() if "error" in line]
    assert len(lines) == 1, result.err
    assert result.err.strip().splitlines()[-1] == lines[0]
    assert lines[0].startswith("dnn-suite: error: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["run", "tiyn"], ["unknown model 'tiyn'", "did you mean 'tiny'", "(`dnn-suite list` shows all "]),
        (["run", "tiny", "--variant", "smal"], ["unknown variant of tiny 'smal'", "did you mean 'small'"]),
        (["run", "tiny-huge"], ["unknown model 'tiny-huge'"]),
        (["run", "tiny", "--profiler", "cpuu"], ["unknown profiler 'cpuu'", "did you mean 'cpu'"]),
        (["run", "tiny", "--batch-size", "0"],
         ["--batch-size", "expected a positive integer up to 1,048,576, got '0'"]),
        (["run", "tiny", "--iterations", "-3"], ["--iterations", "expected a positive integer"]),
        (["run", "tiny", "--set", "batch_sise=3"], ["--set batch_sise: unknown key"]),
        (["run", "tiny", "--set", "batch_size=0"],
         ["--set batch_size: expected a positive integer up to 1,048,576, got 0"]),
        (["run", "tiny", "--set", "model_options.nope=1"], ["model tiny: unknown option 'nope'", "features"]),
        (["run", "tiny", "--set", "model_options.lr=fast"], ["option 'lr': expected float, got 'fast'"]),
        (["run", "tiny", "--set", "novalue"], ["--set 'novalue': expected KEY=VALUE"]),
        (["run", "tiny", "--dataset", "imagenet"], ["unknown dataset 'imagenet'", "random"]),
        (["run", "tiny", "--device", "tpu"], ["--device", "expected auto, cpu, cuda or cuda:N, got 'tpu'"]),
        (["run", "tiny", "--config", "/nonexistent/suite.yaml"], ["cannot read config file /nonexistent/suite.yaml"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_bad_input(tiny_plugin, cli, tmp_path, args, fragments):
    _one_line_error(cli(*args, "--output", tmp_path) if args[0] == "run" else cli(*args), *fragments)
    assert not any(tmp_path.iterdir())  # nothing was started


def test_an_invalid_command_lists_the_commands_but_not_the_internal_child(tiny_plugin, cli):
    result = cli("frobnicate")
    _one_line_error(result, "invalid choice: 'frobnicate'", "'run'", "'train'", "'compare'")
    assert "_child" not in result.err


def test_the_internal_child_command_still_parses(cli, tmp_path):
    """`dnn-suite _child RUN_DIR` (what a launcher profiler runs under its tool) reads the run's record."""
    result = cli("_child", tmp_path)
    assert result.code == 1 and f"{tmp_path / 'run.json'}: No such file" in result.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda(tiny_plugin, cli, tmp_path):
    _one_line_error(cli("run", "tiny", "--device", "cuda", "--output", tmp_path), "--device cuda", "CUDA is not available")


def test_bad_input_found_while_building_is_recorded(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--dataset", "missing", "--data-root", "/nowhere", "--output", tmp_path)
    _one_line_error(result, "dataset 'missing' not found under /nowhere")
    (run_json,) = tmp_path.glob("*/run.json")
    assert '"status": "failed"' in run_json.read_text()


def test_debug_shows_traceback(tiny_plugin, cli, tmp_path):
    result = cli("--debug", "run", "nosuchmodel", "--output", tmp_path)
    assert result.code == 2 and "Traceback" in result.err


def test_broken_plugin_is_reported_and_the_rest_works(tiny_plugin, cli, monkeypatch):
    monkeypatch.setenv("DNN_SUITE_PLUGINS", "tiny_model,no_such_plugin_module")
    result = cli("list")
    assert result.code == 0
    assert "Broken plugins" in result.out
    assert "no_such_plugin_module ($DNN_SUITE_PLUGINS -): ModuleNotFoundError" in result.out
    assert "tiny " in result.out
