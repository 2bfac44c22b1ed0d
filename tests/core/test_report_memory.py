"""The memory profiler's figures in `dnn-suite report` and `dnn-suite compare` (tiny model)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow  # three short runs per test


@pytest.fixture
def memory_runs(tiny_plugin, cli, tmp_path):
    """Three runs with the memory profiler, batch sizes 1, 2 and 4, in one folder (a sweep for report)."""
    runs = {}
    for batch in (1, 2, 4):
        result = cli("run", "tiny", "--profiler", "memory", "--batch-size", batch, "--warmup", 1, "--iterations", 2,
                     "--output", tmp_path / "runs", "--json")
        assert result.code == 0, result.err
        runs[batch] = result.run_dir()
    return runs


def test_run_report_has_the_breakdown_and_modules(cli, memory_runs):
    run_dir = memory_runs[4]
    assert cli("report", run_dir).code == 0
    text = (run_dir / "report.md").read_text()
    memory = text[text.index("## Memory"):text.index("## Profiler metrics")]
    assert "report_files/memory_categories.png" in memory and (run_dir / "report_files" / "memory_categories.png").is_file()
    assert "| phase | parameters | buffers | gradients | optimizer_state | activations |" in memory
    for phase in ("peak", "after_forward", "after_backward", "after_optimizer_step"):
        assert f"| {phase} |" in memory
    assert "| module |" in memory and "| 0 |" in memory and "| 2 |" in memory  # the tiny model's two Linear layers
    assert "Process RSS after the tracked iteration" in memory
    assert "tracked iteration(s) of batch sizes 4, after the 1 warmup iteration(s)" in memory


def test_sweep_report_fits_memory_against_batch_size(cli, memory_runs):
    folder = memory_runs[1].parent
    assert cli("report", folder).code == 0
    text = (folder / "report.md").read_text()
    section = text[text.index("## Memory against batch size"):text.index("## Run 1")]
    assert "fitted on batch sizes 1, 2 (MiB)" in section
    assert "Checked at batch size 4:" in section
    error = float(section.split("error ")[1].split("%")[0])
    assert abs(error) < 10
    assert (folder / "report_files" / "memory_vs_batch_size.png").is_file()


def test_compare_shows_memory_deltas_beside_throughput(cli, memory_runs):
    result = cli("compare", memory_runs[2], memory_runs[4], "--json")
    assert result.code == 0, result.err
    rows = {row["key"]: row for row in json.loads(result.out)["metrics"]}
    assert "throughput" in rows
    peak = rows["memory.peak_total"]
    assert peak["unit"] == "MiB"
    small, large = (json.loads((memory_runs[b] / "run.json").read_text())["profilers"]["memory"]["metrics"]
                    ["peak_total"]["value"] for b in (2, 4))
    assert peak["values"] == [pytest.approx(small / 2**20), pytest.approx(large / 2**20)]
    assert peak["deltas"][1] == pytest.approx((large - small) / small)
    # only the batch size differs: memory grows with it, so the delta is shown without a verdict
    assert peak["verdicts"][1] == "not compared"
