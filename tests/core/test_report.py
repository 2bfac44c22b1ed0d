"""`dnn-suite report`: Markdown and HTML reports of real tiny-model runs and sweeps, their
tables checked against run.json and their plots decoded."""

from __future__ import annotations

import base64
import io
import json
import re
import shlex
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from dnn_suite_profilers.analyzers import Analysis, analyze_ncu, analyze_nsys_kern_sum
from dnn_suite_profilers.launching import write_analysis

TESTS = Path(__file__).parents[1]
sys.path.insert(0, str(TESTS / "profilers"))  # the fake pynvml and its harness
from fakes.harness import FAKES, run_in_process  # noqa: E402

FIXTURES = TESTS / "profilers" / "fixtures"
SHORT = ("--warmup", "1", "--iterations", "8", "--json")


def _run(output: Path, *args: str) -> Path:
    code, out, err = run_in_process("run", "tiny", "--output", output, *SHORT, *args)
    assert code == 0, err
    return Path(json.loads(out)["run_dir"])


def _add_report(run_dir: Path, profiler: str, analysis: Analysis) -> None:
    """Record a launcher profiler's analysis of its tool's output in the run as the launcher
    plugins do (artefacts in RUN/<profiler>/, metrics in run.json): launching the fake tools
    would cost a child process each."""
    folder = run_dir / profiler
    folder.mkdir()
    write_analysis(folder, analysis)
    document = json.loads((run_dir / "run.json").read_text())
    document["profilers"][profiler] = {"metrics": {k: m.to_json() for k, m in analysis.metrics.items()},
                                       "artefacts": [f"{profiler}/analysis.json"], "error": None}
    (run_dir / "run.json").write_text(json.dumps(document))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run with the cpu, torch and nvml (fake pynvml) profilers, and the analyses of an ncu
    log and an nsys kernel summary; a sweep of three batch sizes."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(FAKES))
        patch.delitem(sys.modules, "pynvml", raising=False)
        profiled = _run(root / "profiled", "--profiler", "cpu,torch,nvml", "--repeat", "2",
                        "--set", "profiler_options.nvml.devices=[0]", "--set", "profiler_options.nvml.interval_ms=5",
                        "--set", "profiler_options.cpu.interval_ms=5")
        sys.modules.pop("pynvml", None)
    _add_report(profiled, "nsight", analyze_ncu(FIXTURES / "ncu_new_columns.log"))
    _add_report(profiled, "nsys", analyze_nsys_kern_sum(FIXTURES / "report_cuda_gpu_kern_sum.csv"))
    sweep = root / "sweep"
    sizes = {bs: _run(sweep, "--batch-size", bs, "--repeat", "2") for bs in ("2", "4", "8")}
    return SimpleNamespace(profiled=profiled, sweep=sweep, sizes=sizes)


def _doc(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()  # decodes every pixel: a truncated or corrupt file fails here
        return image.size


def _report(cli, path: Path, *args: str) -> str:
    result = cli("report", path, *args)
    assert result.code == 0, result.err
    written = Path(result.out.strip().removeprefix("report written to "))
    assert written.is_file()
    return written.read_text()


def _markdown_images(markdown: str, folder: Path) -> dict[str, tuple[int, int]]:
    """Every image the Markdown links, by file stem, with its decoded size."""
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    return {Path(link).stem: _png_size((folder / link).read_bytes()) for link in links}


def test_markdown_report_of_a_profiled_run(tiny_plugin, cli, runs):
    markdown = _report(cli, runs.profiled)
    document = _doc(runs.profiled)
    metrics = document["metrics"]

    images = _markdown_images(markdown, runs.profiled)
    assert set(images) == {"step_time", "loss", "utilization_cpu", "utilization_nvml", "operators_torch",
                           "kernels_nsight", "core_utilization_nsight", "kernels_nsys", "step_breakdown_torch"}
    assert all(width > 100 and height > 100 for width, height in images.values())

    summary = markdown.split("## Summary")[1].split("## ")[0]
    assert f"| throughput | {metrics['throughput']['value']:,.2f} | samples/s |" in summary
    assert f"| step time median | {metrics['step_time_s']['median'] * 1e3:,.2f} | ms |" in summary
    assert f"| data-loading share | {metrics['data_loading_share'] * 100:,.1f} | % |" in summary
    gpu = document["profilers"]["nvml"]["metrics"]["gpu_util_mean"]["value"]
    assert f"| GPU utilization (nvml) | {gpu:,.1f} | % |" in summary
    for window in metrics["windows"]:
        assert f"| {window['index']} | 8 | 32 | {window['wall_s']:.3f} | {window['throughput']:,.2f} | no |" in summary

    step = metrics["step_time_s"]
    assert f"| p90 | {step['p90'] * 1e3:.3f} | {metrics['data_wait_s']['p90'] * 1e3:.3f} |" in markdown
    loss = metrics["loss"]
    assert f"| {loss['first']:.4g} | {loss['last']:.4g} | {loss['mean']:.4g} |" in markdown

    top = json.loads((runs.profiled / "torch" / "top_ops.json").read_text())[0]
    assert f"| {top['name']} | {top['calls']} | {top['self_cpu_time_us'] / 1e3:,.3f} |" in markdown

    nsight = document["profilers"]["nsight"]["metrics"]
    for core, label in (("fma", "FMA"), ("fp16", "FP16"), ("tensor", "Tensor"), ("sfu", "SFU")):
        assert f"| {label} | {nsight[f'{core}_utilization']['value']:.1f} |" in markdown
    assert "## Configuration" in markdown and "| model\\_options.lr | 0.05 |" not in markdown
    assert "| model_options.lr | 0.05 |" in markdown
    assert f"| cpu | {document['environment']['cpu']} |" in markdown


def test_html_report_is_one_self_contained_file(tiny_plugin, cli, runs, tmp_path):
    page = _report(cli, runs.profiled, "--output", tmp_path / "profiled.html")  # the format from the suffix
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">', page)
    assert len(embedded) == 9  # with the torch trace's step breakdown
    assert all(width > 100 and height > 100 for width, height in (_png_size(base64.b64decode(d)) for d, _ in embedded))
    assert {alt for _, alt in embedded} >= {"Step time distribution over the measured iterations",
                                           "nvml: utilization during the measured windows (dotted lines: window "
                                           "boundaries)", "nsight: GPU core utilization per core type"}
    assert "report_files" not in page and "http" not in page.split("<body>")[1]
    throughput = _doc(runs.profiled)["metrics"]["throughput"]["value"]
    assert f'<td class="num">{throughput:,.2f}</td>' in page


def test_kernels_of_a_timeline_profiler(tiny_plugin, cli, runs):
    markdown = _report(cli, runs.profiled).split("nsys: kernels by total time")[1]
    kernels = json.loads((runs.profiled / "nsys" / "analysis.json").read_text())["tables"]["top_kernels"]
    assert len(kernels) == 2
    for kernel in kernels:
        name = kernel["name"].replace("*", "\\*").replace("<", "&lt;").replace(">", "&gt;")
        assert f"| {name} | {kernel['instances']} | {kernel['total_ns'] / 1e6:,.3f} |" in markdown


def test_sweep_report(tiny_plugin, cli, runs, tmp_path):
    page = _report(cli, runs.sweep, "--format", "html")
    assert "(3 runs)" in page
    assert page.count('<img src="data:image/png;base64,') == 1 + 3 * 2  # throughput plot; per run: steps, loss
    assert 'alt="Throughput against batch size' in page
    for index, (size, run_dir) in enumerate(runs.sizes.items(), 1):
        throughput = _doc(run_dir)["metrics"]["throughput"]["value"]
        row = (f'<tr><td class="num">{index}</td><td>{run_dir.name}</td><td>ok</td><td class="num">{size}</td>'
               f'<td class="num">{throughput:,.2f}</td>')
        assert row in page
        assert f"<h2>Run {index}: {run_dir.name} (tiny small, bs {size}, cpu)</h2>" in page

    (runs.sweep / "sweep.json").write_text(json.dumps({"runs": [runs.sizes["8"].name, runs.sizes["2"].name]}))
    try:
        markdown = _report(cli, runs.sweep, "--output", tmp_path / "listed.md")
    finally:
        (runs.sweep / "sweep.json").unlink()
    assert "(2 runs)" in markdown and runs.sizes["4"].name not in markdown
    assert markdown.index(f"Run 1: {runs.sizes['8'].name}") < markdown.index(f"Run 2: {runs.sizes['2'].name}")
    assert set(_markdown_images(markdown, tmp_path)) == {"throughput_vs_batch_size", "run1_step_time", "run1_loss",
                                                         "run2_step_time", "run2_loss"}


def test_without_matplotlib_the_tables_are_written(tiny_plugin, cli, runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    run_dir = tmp_path / "run"
    shutil.copytree(runs.profiled, run_dir, ignore=shutil.ignore_patterns("report*"))
    result = cli("report", run_dir)
    assert result.code == 0
    # the suite is installed here from this checkout (editable): the hint installs the extra from it
    checkout = Path(__file__).resolve().parents[2]
    hint = shlex.join([sys.executable, "-m", "pip", "install", "-e", f"{checkout}[report]"])
    assert result.err == f"dnn-suite: plots need matplotlib: {hint}\n"
    markdown = (run_dir / "report.md").read_text()
    assert f"plots need matplotlib: {sys.executable} -m pip install -e" in markdown
    assert "![" not in markdown and not (run_dir / "report_files").exists()
    assert f"| throughput | {_doc(run_dir)['metrics']['throughput']['value']:,.2f} | samples/s |" in markdown


def test_what_is_not_a_run_or_a_sweep(tiny_plugin, cli, tmp_path):
    result = cli("report", tmp_path)
    assert result.code == 2 and "neither a run directory (no run.json) nor a sweep" in result.err
    (tmp_path / "sweep.json").write_text('{"runs": "a"}')
    result = cli("report", tmp_path)
    assert result.code == 2 and 'sweep.json: expected {"runs": [' in result.err
    assert cli("report", tmp_path / "missing").code == 2
