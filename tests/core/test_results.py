"""`dnn-suite results DIR...`: every run and sweep under the directories as one table, from real
tiny-model run directories: the settings that differ, the metrics from each run.json, a failed
run's status, the formats (text, CSV, JSON, Markdown, HTML), --where, --sort, --output, pandas."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

TESTS = Path(__file__).parents[1]
sys.path.insert(0, str(TESTS / "profilers"))
from fakes.harness import run_in_process  # noqa: E402

from dnn_suite.reporting.results import collect, differing_settings, to_dataframe  # noqa: E402

SHORT = ("--warmup", "1", "--iterations", "3", "--json")


def _run(output: Path, *args: str, model: str | None = "tiny") -> dict:
    code, out, err = run_in_process("run", *([model] if model else []), "--output", output, *SHORT, *args)
    assert code in (0, 1), err
    return json.loads(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs side by side, one in a folder below, and one that failed (NaN loss)."""
    root = tmp_path_factory.mktemp("results")
    small = _run(root / "a", "--batch-size", "2")
    wide = _run(root / "a", "--batch-size", "4", "--variant", "wide", "--set", "model_options.lr=0.01")
    deeper = _run(root / "b" / "nested", "--batch-size", "8", "--set", "model_options.lr=0.01")
    failed = _run(root / "b", "--batch-size", "2", "--set", "model_options.nan_at=1")
    return SimpleNamespace(root=root, small=small, wide=wide, deeper=deeper, failed=failed)


def test_every_run_under_the_directories_is_a_row_with_its_numbers(runs):
    rows = collect([runs.root / "a", runs.root / "b"])
    by_run = {row["run"]: row for row in rows}
    assert set(by_run) == {d["run_dir"] for d in (runs.small, runs.wide, runs.deeper, runs.failed)}
    assert list(rows[0]) == ["model", "variant", "scenario", "batch_size", "device", "model_options.lr",
                             "model_options.nan_at", "throughput", "step_time_median_ms", "latency_p99_ms",
                             "compile_time_s", "peak_rss_mib",
                             "peak_cuda_mib", "mAP", "top1", "status", "error", "run", "sweep"]
    for document in (runs.small, runs.wide, runs.deeper):
        row = by_run[document["run_dir"]]
        metrics = document["metrics"]
        assert row["throughput"] == metrics["throughput"]["value"]
        assert row["step_time_median_ms"] == pytest.approx(metrics["step_time_s"]["median"] * 1e3)
        assert row["peak_rss_mib"] == pytest.approx(metrics["memory"]["max_rss_bytes"] / 2**20)
        assert (row["model"], row["scenario"], row["device"], row["status"]) == ("tiny", "train", "cpu", "ok")
        assert row["batch_size"] == document["config"]["batch_size"]
        assert row["variant"] == document["config"]["variant"]
        assert row["model_options.lr"] == document["config"]["model_options"]["lr"]
    failed = by_run[runs.failed["run_dir"]]
    assert failed["status"] == "failed" and "loss is nan" in failed["error"] and failed["throughput"] is None


def test_differing_settings_leave_out_bookkeeping_and_options_one_model_lacks():
    tiny = {"model": "tiny", "output": "a", "seed": 0, "model_options": {"lr": 0.1, "features": 16}}
    other = {"model": "tiny", "output": "b", "seed": 1, "model_options": {"lr": 0.1}}
    resnet = {"model": "resnet18", "output": "c", "seed": 0, "model_options": {"image_size": 32, "amp": True}}
    assert differing_settings([tiny, other, resnet]) == ["seed"]
    resnet_bf16 = {**resnet, "model_options": {"image_size": 32, "amp": False}}
    assert differing_settings([tiny, resnet, resnet_bf16]) == ["model_options.amp"]


def test_where_and_sort(runs):
    root = [runs.root]
    rows = collect(root, where=["model_options.lr=0.01"], sort="batch_size", descending=True)
    assert [row["batch_size"] for row in rows] == [8, 4]
    assert [row["batch_size"] for row in collect(root, where=["status=ok", "batch_size>=4"], sort="batch_size")] == [4, 8]
    assert [row["status"] for row in collect(root, where=["status!=ok"])] == ["failed"]
    ranked = collect(root, sort="throughput", descending=True)
    throughputs = [row["throughput"] for row in ranked]
    assert throughputs[-1] is None and throughputs[:-1] == sorted(throughputs[:-1], reverse=True)
    assert collect(root, where=["variant=wide"])[0]["run"] == runs.wide["run_dir"]


def test_formats_hold_the_same_rows(runs, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(runs.root)
    text = cli("results", "a", "--sort", "batch_size")
    assert text.code == 0, text.err
    header, first, second = text.out.splitlines()
    # the columns that have a value (no mAP, top-1 or CUDA memory on the CPU), paths relative to here
    assert header.split() == ["model", "variant", "scenario", "batch_size", "device", "model_options.lr",
                              "throughput", "step_time_median_ms", "peak_rss_mib", "status", "run"]
    assert first.split()[:6] == ["tiny", "small", "train", "2", "cpu", "0.05"]
    assert first.split()[6] == f"{runs.small['metrics']['throughput']['value']:,.2f}"
    assert first.split()[-1] == str(Path(runs.small["run_dir"]).relative_to(runs.root))
    assert second.split()[:6] == ["tiny", "wide", "train", "4", "cpu", "0.01"]

    rows = list(csv.DictReader(io.StringIO(cli("results", "a", "--format", "csv", "--sort", "batch_size").out)))
    assert [float(row["throughput"]) for row in rows] == [runs.small["metrics"]["throughput"]["value"],
                                                           runs.wide["metrics"]["throughput"]["value"]]
    assert rows[0]["mAP"] == "" and rows[0]["run"] == str(Path(runs.small["run_dir"]).relative_to(runs.root))

    written = cli("results", "a", "b", "--output", tmp_path / "all.json")
    assert written.code == 0 and written.out == f"results written to {tmp_path / 'all.json'} (4 rows)\n"
    assert json.loads((tmp_path / "all.json").read_text()) == collect([Path("a"), Path("b")])

    markdown = cli("results", "a", "--format", "markdown", "--sort", "batch_size").out.splitlines()
    assert markdown[0].startswith("| model | variant | scenario | batch_size | device | model_options.lr | "
                                  "throughput |")
    assert markdown[1].startswith("|---|---|---|---:|---|---:|---:|") and len(markdown) == 4

    page = cli("results", "a", "b", "--output", tmp_path / "results.html")
    assert page.code == 0
    html = (tmp_path / "results.html").read_text()
    assert "<h1>dnn-suite results: 4 runs</h1>" in html and '<img src="data:image/png;base64,' in html
    assert f'>{runs.deeper["metrics"]["throughput"]["value"]:,.2f}</td>' in html


def test_bad_input_is_one_line_and_exit_2(runs, cli, tmp_path):
    for args, message in [
        ((tmp_path / "none",), f"{tmp_path / 'none'}: no such directory"),
        ((tmp_path,), f"{tmp_path}: no run directory (no run.json) under it"),
        ((runs.root, "--where", "bogus=1"), "--where bogus: no run has it (columns and settings: "),
        ((runs.root, "--where", "model"), "--where 'model': expected KEY=VALUE"),
        ((runs.root, "--where", "model>tiny"), "--where 'model>tiny': > compares numbers"),
        ((runs.root, "--sort", "speed"), "--sort speed: not a column (columns: model, variant,"),
        ((runs.root, "--output", tmp_path), f"--output {tmp_path}: is a directory"),
    ]:
        result = cli("results", *args)
        assert result.code == 2 and result.err.startswith(f"dnn-suite: error: {message}"), result.err
        assert len(result.err.splitlines()) == 1


def test_a_dataframe_where_pandas_is_installed(runs):
    pandas = pytest.importorskip("pandas")
    frame = to_dataframe(collect([runs.root], sort="batch_size"))
    assert isinstance(frame, pandas.DataFrame) and len(frame) == 4
    assert list(frame["batch_size"]) == [2, 2, 4, 8] and "throughput" in frame.columns


def test_results_import_no_torch(runs, tmp_path):
    """A light command: the table of a folder of runs without torch (a fraction of a second)."""
    code = textwrap.dedent(f"""
        import sys
        from dnn_suite.entry import main
        code = main(["results", {str(runs.root)!r}, "--output", {str(tmp_path / "r.csv")!r}])
        print("torch imported:", "torch" in sys.modules)
        sys.exit(code)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "torch imported: False"
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 1 + 4


def test_an_inference_run_shows_its_scenario_and_latency(tmp_path):
    document = _run(tmp_path, "resnet18", "--scenario", "inference", "--image-size", "32", "--batch-size", "2",
                    "--workers", "0", model=None)
    (row,) = collect([tmp_path])
    assert (row["model"], row["scenario"], row["status"]) == ("resnet18", "inference", "ok")
    assert row["latency_p99_ms"] == pytest.approx(document["metrics"]["inference"]["latency_s"]["p99"] * 1e3)
    assert row["throughput"] == document["metrics"]["throughput"]["value"]
