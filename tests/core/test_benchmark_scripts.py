"""The scripts in benchmarks/ keep working: each parses its options, and the ones that need no
benchmark-only package (effdet, torchmetrics) complete a tiny run and report their ratio."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(path.name for path in BENCHMARKS.glob("*.py") if path.name not in ("ab.py", "sides.py"))


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)


def test_every_script_is_listed_by_run_all() -> None:
    run_all = (BENCHMARKS / "run_all.sh").read_text()
    listed = {f"{name.removesuffix('.py')}" for name in SCRIPTS} - {"sampler_overhead"}  # a profiler cost, not a peer
    assert listed <= {line.split()[1] for line in run_all.splitlines() if line.startswith("run ")}


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help(script: str, monkeypatch, capsys) -> None:
    """`SCRIPT --help`, run as __main__ in this process (torch is imported once, not per script)."""
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / script), "--help"])
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as `python SCRIPT` puts the script's folder first
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    out = capsys.readouterr().out
    assert exited.value.code in (0, None) and "--rounds" in out
    if script != "sampler_overhead.py":  # the ones run_all.sh runs write their figures as JSON
        assert "--json" in out


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["child-processes", "in-process"])
def test_harness_benchmark_tiny_run(tmp_path: Path, mode: list[str]) -> None:
    """Both sides (dnn-suite run and the bare loop), as child processes or in one, run and are compared."""
    figures = tmp_path / "harness.json"
    result = _run(str(BENCHMARKS / "harness.py"), "--rounds", "1", "--image-size", "128", "--warmup", "1",
                  "--iterations", "2", "--workers", "0", "--json", str(figures), *mode)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "harness/bare throughput" in result.stdout
    (comparison,) = json.loads(figures.read_text())["comparisons"]
    assert comparison["target"] == 0.98 and comparison["value"] > 0
    assert comparison["figures"]["harness"][0]["throughput"] > 0 and comparison["figures"]["bare"][0]["throughput"] > 0
