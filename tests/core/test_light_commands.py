"""The commands that need no model answer without importing torch (or loading the plugins): the
top-level ``--help``, ``env --no-torch``, ``compare``, ``report``, ``results``, ``schema`` and ``analyze``.
Each runs in a fresh interpreter, which then says whether torch was imported. The built-in profiler
and logger plugins register without torch; the three model plugins still import it at import time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REAL_TRACE = Path(__file__).parents[1] / "profilers" / "fixtures" / "kineto" / "real" / "resnet_v100_rank0.pt.trace.json.gz"


def _fresh(args: list[str], cwd: Path) -> tuple[int, str, str, bool]:
    """``main(args)`` in a new interpreter: (exit code, stdout, stderr, whether torch was imported)."""
    code = textwrap.dedent(f"""
        import sys
        from dnn_suite.entry import main
        try:
            code = main({args!r})
        except SystemExit as exc:  # --help
            code = exc.code
        sys.stderr.write("\\ntorch imported: " + str("torch" in sys.modules))
        sys.exit(code)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd)
    err, _, imported = done.stderr.rpartition("\ntorch imported: ")
    return done.returncode, done.stdout, err, imported == "True"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> list[Path]:
    """Two real run directories of the tiny model (made in this process, which has torch)."""
    from dnn_suite.entry import main

    output = tmp_path_factory.mktemp("runs")
    plugins = str(Path(__file__).parents[1] / "plugins")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(plugins)
        patch.setenv("DNN_SUITE_PLUGINS", "tiny_model")
        for _ in range(2):
            assert main(["--quiet", "run", "tiny", "--iterations", "3", "--warmup", "1", "--output", str(output),
                         "--json"]) == 0
    return sorted(path for path in output.iterdir() if (path / "run.json").is_file())


def test_top_level_help_and_version(tmp_path):
    code, out, _, imported = _fresh(["--help"], tmp_path)
    assert code == 0 and out.startswith("usage: dnn-suite") and "compare" in out
    assert not imported
    code, out, _, imported = _fresh(["--version"], tmp_path)
    assert code == 0 and out.startswith("dnn-suite ") and not imported


def test_env_without_torch_reads_its_version_from_the_package(tmp_path):
    code, out, err, imported = _fresh(["env", "--no-torch", "--json"], tmp_path)
    assert code == 0, err
    assert not imported
    from importlib.metadata import version

    env = json.loads(out)
    assert env["torch"] == version("torch") and env["cuda_available"] is None and env["gpus"] is None
    assert env["cpu_count"] >= 1
    code, out, _, imported = _fresh(["env", "--no-torch"], tmp_path)
    assert code == 0 and not imported
    assert "CUDA         not read (torch not imported)" in out


def test_compare_and_report_of_real_runs(two_runs, tmp_path):
    code, out, err, imported = _fresh(["compare", *map(str, two_runs), "--json"], tmp_path)
    assert code == 0, err
    assert not imported
    assert [run["path"] for run in json.loads(out)["runs"]] == [str(path) for path in two_runs]

    code, out, err, imported = _fresh(["results", str(two_runs[0].parent), "--format", "json"], tmp_path)
    assert code == 0, err
    assert not imported and len(json.loads(out)) == 2

    report = tmp_path / "report.md"
    code, _, err, imported = _fresh(["report", str(two_runs[0]), "--output", str(report)], tmp_path)
    assert code == 0, err
    assert not imported
    assert "throughput" in report.read_text().lower()


def test_schema_and_analyze(tmp_path):
    code, out, _, imported = _fresh(["schema", "run"], tmp_path)
    assert code == 0 and json.loads(out)["type"] == "object" and not imported
    trace = tmp_path / REAL_TRACE.name
    trace.write_bytes(REAL_TRACE.read_bytes())
    code, out, err, imported = _fresh(["analyze", str(trace), "--json"], tmp_path)
    assert code == 0, err
    assert not imported and '"diagnosis"' in out


def test_bad_input_to_a_light_command_is_one_line_and_exit_2(tmp_path):
    code, _, err, imported = _fresh(["compare", str(tmp_path / "a"), str(tmp_path / "b")], tmp_path)
    assert code == 2 and not imported
    assert err.strip().splitlines() == [f"dnn-suite: error: {tmp_path / 'a'}: not a run directory (no run.json)"]


def test_a_command_that_runs_a_model_still_loads_torch(tmp_path):
    """The check above can fail: the same probe sees torch where a command needs it."""
    code, _, err, imported = _fresh(["env", "--json"], tmp_path)
    assert code == 0, err
    assert imported


def test_python_dash_m_takes_the_same_light_path(tmp_path):
    """`python -m dnn_suite` is the console script's entry, light paths included."""
    trace = tmp_path / REAL_TRACE.name
    trace.write_bytes(REAL_TRACE.read_bytes())
    code = textwrap.dedent(f"""
        import runpy, sys
        sys.argv = ["dnn_suite", "analyze", {str(trace)!r}]
        try:
            runpy.run_module("dnn_suite", run_name="__main__")
        except SystemExit as exc:
            print("exit", exc.code, "torch imported:", "torch" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.stdout.rstrip().endswith("exit 0 torch imported: False"), done.stderr


MODEL_PLUGINS = ("dnn_suite.detection", "dnn_suite.efficientdet", "dnn_suite.torchvision")


def test_profiler_and_logger_plugins_register_without_torch(tmp_path):
    """Every built-in plugin but the model plugins loads and registers in a fresh interpreter
    without importing torch (it imports torch where a run uses it)."""
    code = textwrap.dedent(f"""
        import json, sys
        from importlib.metadata import entry_points
        from dnn_suite.plugins import new_plugin_manager

        manager = new_plugin_manager()
        for ep in entry_points(group="dnn_suite"):
            if ep.name not in {MODEL_PLUGINS!r}:
                manager.register(ep.load(), name=ep.name)
        specs = []
        manager.hook.dnn_suite_register_profilers(register=specs.append)
        manager.hook.dnn_suite_register_loggers(register=specs.append)
        print(json.dumps({{"names": sorted(spec.name for spec in specs), "torch": "torch" in sys.modules}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert loaded["names"] == ["cpu", "memory", "mlflow", "nsight", "nsys", "nvml", "nvprof", "tensorboard", "torch"]
    assert not loaded["torch"]


@pytest.mark.parametrize("plugin", MODEL_PLUGINS)
def test_model_plugins_still_import_torch(plugin, tmp_path):
    """The probe above can fail: a model plugin's module imports torch (its specs and options are
    built beside its model code), so `dnn-suite list` imports torch through these three only."""
    code = textwrap.dedent(f"""
        import sys
        from importlib.metadata import entry_points
        (ep,) = [ep for ep in entry_points(group="dnn_suite") if ep.name == {plugin!r}]
        ep.load()
        print("torch" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
