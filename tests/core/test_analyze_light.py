"""``dnn-suite analyze`` answers with the built-in analyzers without importing torch or loading
the model plugins, and still hands over to the full command line (every plugin) for what only a
third-party plugin reads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REAL_TRACE = Path(__file__).parents[1] / "profilers" / "fixtures" / "kineto" / "real" / "resnet_v100_rank0.pt.trace.json.gz"


def _entry(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        import sys
        from dnn_suite.entry import main
        code = main({args!r})
        print("torch imported:", "torch" in sys.modules)
        sys.exit(code)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, **(env or {})})


def test_analyze_of_a_trace_imports_no_torch(tmp_path):
    trace = tmp_path / REAL_TRACE.name
    trace.write_bytes(REAL_TRACE.read_bytes())
    result = _entry(["analyze", str(trace), "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("torch imported: False")
    assert '"diagnosis"' in result.stdout
    assert (tmp_path / (trace.name + ".analysis.json")).is_file()


def test_bad_input_on_the_light_path_is_one_line_and_exit_2(tmp_path):
    result = _entry(["analyze", str(tmp_path / "missing.json")], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"dnn-suite: error: {tmp_path / 'missing.json'}: no such file or directory"]


def test_a_third_party_analyzer_still_answers(tmp_path):
    (tmp_path / "my_analyzer.py").write_text(textwrap.dedent("""
        from pathlib import Path
        from dnn_suite.hookspecs import hookimpl
        from dnn_suite.metrics import Metric
        from dnn_suite_profilers.analyzers import Analysis

        @hookimpl
        def dnn_suite_analyze_file(path):
            path = Path(path)
            if path.suffix != ".mytool":
                return None
            return Analysis("mytool", path, {"lines": Metric(len(path.read_text().splitlines()), "lines")})
    """))
    data = tmp_path / "out.mytool"
    data.write_text("a\nb\nc\n")
    result = _entry(["analyze", str(data)], tmp_path,
                    env={"DNN_SUITE_PLUGINS": "my_analyzer", "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "mytool analysis of" in result.stdout and "lines  3 lines" in result.stdout


def test_help_goes_to_the_full_command_line(tmp_path):
    result = _entry(["analyze", "--help"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: dnn-suite analyze")
