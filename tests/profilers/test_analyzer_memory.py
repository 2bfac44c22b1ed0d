"""The memory profiler's memory.json read back (profilers/analyzers/memory.py): a file laid out as the
profiler writes it (profilers/memory.py's ``_track`` and ``track_iteration``, through the same writer),
with every figure worked out by hand.

The hand-worked run: batch size 16, tracked twice, fitted on batch sizes 2 and 4. At batch size b the
peak holds parameters 1000, buffers 100, gradients 1000, optimizer state 2000, activations 300 b,
temporaries 50 b and other 40 + 10 b bytes: 4140 fixed + 360 per sample. At 16 the activations are
1100 bytes above that line, so the fit predicts 4140 + 360 x 16 = 9900 where 11000 was measured:
(9900 - 11000) / 11000 = -10%. A capacity of 40140 bytes fits (40140 - 4140) / 360 = 100 samples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dnn_suite.memory_model import CATEGORIES, TOTAL
from dnn_suite_profilers.analyzers import InvalidProfileFile
from dnn_suite_profilers.analyzers.memory import (
    analyze_memory,
    is_memory_file,
    memory_metrics,
    read_memory_file,
    write_memory_file,
)

RUN_BATCH = 16
WHEN = "after the 1 warmup iteration(s), before measured window 1"
CAPACITY_SOURCE = "available memory of this machine"
CPU_ALLOCATOR = {"rss": 1_004_300}
CUDA_ALLOCATOR = {"cuda_peak_allocated": 12_000, "cuda_peak_reserved": 14_000, "cuda_fragmentation": 2_000,
                  "cuda_alloc_retries": 1, "cuda_ooms": 0}
MODULES = {
    "encoder": {"parameters": 600, "buffers": 100, "gradients": 600, "optimizer_state": 1200, "activations": 2000,
                "forward_peak_rise": 2600, "backward_peak_rise": 900},
    "head": {"parameters": 400, "buffers": 0, "gradients": 400, "optimizer_state": 800, "activations": None,
             "forward_peak_rise": None, "backward_peak_rise": None},
}


def _breakdown(activations: int, temporaries: int, other: int) -> dict[str, int]:
    """Bytes per category and their total; parameters, buffers, gradients and optimizer state are fixed."""
    parts = dict(zip(CATEGORIES, (1000, 100, 1000, 2000, activations, temporaries, other), strict=True))
    return {**parts, TOTAL: sum(parts.values())}


def _point(batch_size: int, allocator: dict[str, int], above_the_line: int = 0) -> dict[str, Any]:
    """One tracked iteration as track_iteration returns it."""
    activations, other = 300 * batch_size + above_the_line, 40 + 10 * batch_size
    after_step = _breakdown(0, 0, other)
    return {"peak": _breakdown(activations, 50 * batch_size, other),
            "phases": {"after_forward": _breakdown(activations, 0, other), "after_backward": after_step,
                       "after_optimizer_step": after_step},
            "end": after_step, "modules": MODULES, "allocator": allocator}


def _document(allocator: dict[str, int] = CPU_ALLOCATOR, **changes: Any) -> dict[str, Any]:
    """The hand-worked run as the profiler's ``_track`` returns it (before the writer adds format and version)."""
    tracked = [{"batch_size": RUN_BATCH, "iteration": i, "when": WHEN} for i in range(2)]
    tracked += [{"batch_size": b, "iteration": 0, "when": WHEN} for b in (2, 4)]
    points = {"16": _point(RUN_BATCH, allocator, above_the_line=1100),
              "2": _point(2, allocator), "4": _point(4, allocator)}
    return {"device": "cpu", "unit": "bytes", "run_batch_size": RUN_BATCH, "fit_batch_sizes": [2, 4],
            "capacity_bytes": 40_140, "capacity_source": CAPACITY_SOURCE, "tracked": tracked, "points": points,
            "snapshot": None, **changes}


def _written(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "memory" / "memory.json"
    path.parent.mkdir(exist_ok=True)
    write_memory_file(path, document)
    return path


def _figures(prefix: str, values: tuple[int, ...]) -> dict[str, int]:
    """``prefix.category`` -> bytes for the seven categories and the total."""
    return {f"{prefix}.{name}": value for name, value in zip((*CATEGORIES, TOTAL), values, strict=True)}


PEAK_AT_16 = (1000, 100, 1000, 2000, 5900, 800, 200, 11_000)
AFTER_STEP_AT_16 = (1000, 100, 1000, 2000, 0, 0, 200, 4300)


def test_every_figure_of_a_cpu_run_with_its_unit() -> None:
    metrics = memory_metrics(_document())
    values = {name: metric.value for name, metric in metrics.items()}
    assert values == {
        "peak_total": 11_000, "peak_activations": 5900, "untracked": 1_000_000, "largest_batch_size": 100,
        "tracked_iterations": 4,
        **_figures("peak", PEAK_AT_16),
        **_figures("after_forward", (1000, 100, 1000, 2000, 5900, 0, 200, 10_200)),
        **_figures("after_backward", AFTER_STEP_AT_16),
        **_figures("after_optimizer_step", AFTER_STEP_AT_16),
        **{f"module.{name}.{key}": value for name, row in MODULES.items() for key, value in row.items()},
        "rss": 1_004_300,
        "capacity": 40_140,
        "fit.parameters.fixed": 1000, "fit.parameters.per_sample": 0,
        "fit.buffers.fixed": 100, "fit.buffers.per_sample": 0,
        "fit.gradients.fixed": 1000, "fit.gradients.per_sample": 0,
        "fit.optimizer_state.fixed": 2000, "fit.optimizer_state.per_sample": 0,
        "fit.activations.fixed": 0, "fit.activations.per_sample": 300,
        "fit.temporaries.fixed": 0, "fit.temporaries.per_sample": 50,
        "fit.other.fixed": 40, "fit.other.per_sample": 10,
        "fit.total.fixed": 4140, "fit.total.per_sample": 360,
        "fit.check_batch_size": 16, "fit.check_predicted": 9900, "fit.check_measured": 11_000, "fit.check_error": -10.0,
    }
    assert list(metrics)[:4] == ["peak_total", "peak_activations", "untracked", "largest_batch_size"]
    not_bytes = {name: metric.unit for name, metric in metrics.items() if metric.unit != "bytes"}
    assert not_bytes == {"largest_batch_size": "samples", "tracked_iterations": "iterations",
                         **{f"fit.{c}.per_sample": "bytes/sample" for c in (*CATEGORIES, TOTAL)},
                         "fit.check_batch_size": "samples", "fit.check_error": "%"}


def test_each_kind_of_figure_says_what_it_is() -> None:
    descriptions = {name: metric.description for name, metric in memory_metrics(_document()).items()}
    assert {name: descriptions[name] for name in (
        "peak_total", "peak_activations", "untracked", "largest_batch_size", "tracked_iterations", "peak.temporaries",
        "after_optimizer_step.total", "module.encoder.forward_peak_rise", "rss", "capacity",
        "fit.activations.fixed", "fit.activations.per_sample", "fit.check_batch_size", "fit.check_predicted",
        "fit.check_measured", "fit.check_error")} == {
        "peak_total": "tracked tensor memory at the peak of the iteration, at batch size 16",
        "peak_activations": "activations (kept from forward) at the peak, at batch size 16",
        "untracked": "RSS - tracked tensors after the iteration: interpreter, libraries, allocator caches and "
                     "workspaces the tracker cannot see",
        "largest_batch_size": "largest batch whose predicted tracked peak fits the capacity "
                              "(available memory of this machine)",
        "tracked_iterations": f"batch sizes 16, 2, 4, {WHEN}; not measured",
        "peak.temporaries": "temporaries at the peak, at batch size 16",
        "after_optimizer_step.total": "total after optimizer step",
        "module.encoder.forward_peak_rise": "module encoder: forward peak rise, at batch size 16",
        "rss": "process resident set size after the tracked iteration",
        "capacity": CAPACITY_SOURCE,
        "fit.activations.fixed": "activations: fixed part (batch sizes 2, 4)",
        "fit.activations.per_sample": "activations: part per sample (batch sizes 2, 4)",
        "fit.check_batch_size": "tracked batch size not used for the fit",
        "fit.check_predicted": "predicted peak there",
        "fit.check_measured": "tracked peak there",
        "fit.check_error": "(predicted - measured) / measured",
    }


def test_on_cuda_the_untracked_memory_is_the_allocators_peak_beyond_the_tracked_one() -> None:
    metrics = memory_metrics(_document(CUDA_ALLOCATOR, device="cuda:0"))
    assert (metrics["untracked"].value, metrics["untracked"].unit, metrics["untracked"].description) == (
        12_000 - 11_000, "bytes", "CUDA peak allocated - tracked peak: what the tracker cannot see")
    assert {key: (metrics[key].value, metrics[key].unit, metrics[key].description) for key in CUDA_ALLOCATOR} == {
        "cuda_peak_allocated": (12_000, "bytes", "CUDA allocator: peak allocated during the tracked iteration"),
        "cuda_peak_reserved": (14_000, "bytes", "CUDA allocator: peak reserved (cached) during the tracked iteration"),
        "cuda_fragmentation": (2_000, "bytes", "CUDA allocator: peak reserved - peak allocated"),
        "cuda_alloc_retries": (1, "retries",
                               "CUDA allocator: cudaMalloc retries after freeing the cache, since the process started"),
        "cuda_ooms": (0, "OOMs", "CUDA allocator: out-of-memory errors, since the process started"),
    }
    assert "rss" not in metrics


def test_an_allocator_figure_of_a_later_version_is_kept_in_bytes_under_its_own_name() -> None:
    metrics = memory_metrics(_document({**CUDA_ALLOCATOR, "cuda_peak_inactive_split": 512}, device="cuda:0"))
    assert (metrics["cuda_peak_inactive_split"].value, metrics["cuda_peak_inactive_split"].unit,
            metrics["cuda_peak_inactive_split"].description) == (512, "bytes", "cuda_peak_inactive_split")


def test_without_allocator_figures_nothing_is_called_untracked() -> None:
    document = _document()
    for point in document["points"].values():
        point["allocator"] = {}
    metrics = memory_metrics(document)
    assert "untracked" not in metrics and "rss" not in metrics and metrics["peak_total"].value == 11_000


def test_without_fit_batch_sizes_there_is_no_fit_nor_capacity() -> None:
    metrics = memory_metrics(_document(fit_batch_sizes=None))
    assert not [name for name in metrics if name.startswith("fit.") or name in ("largest_batch_size", "capacity")]
    assert metrics["peak_total"].value == 11_000


def test_the_fit_is_checked_at_the_largest_tracked_batch_size_outside_it() -> None:
    metrics = memory_metrics(_document(fit_batch_sizes=[4, 16]))
    # through (4, 5580) and (16, 11000): 451.667 bytes per sample and 3773.333 fixed (rounded to 3 decimals);
    # at 2: 3773.333 + 2 x 451.667 = 4676.667 predicted against 4860 measured, -3.77%
    assert {name: metrics[name].value for name in ("fit.total.fixed", "fit.total.per_sample", "fit.check_batch_size",
                                                   "fit.check_predicted", "fit.check_measured", "fit.check_error")} == {
        "fit.total.fixed": 3773, "fit.total.per_sample": 452, "fit.check_batch_size": 2, "fit.check_predicted": 4677,
        "fit.check_measured": 4860, "fit.check_error": -3.77}


def test_a_fit_over_every_tracked_batch_size_has_no_check() -> None:
    metrics = memory_metrics(_document(fit_batch_sizes=[2, 4, 16]))
    assert "fit.total.per_sample" in metrics and not [name for name in metrics if name.startswith("fit.check")]


def test_without_a_capacity_the_largest_batch_is_unknown() -> None:
    metrics = memory_metrics(_document(capacity_bytes=None))
    assert metrics["largest_batch_size"].value is None and metrics["capacity"].value is None


def test_a_check_error_that_rounds_to_zero_reads_zero_not_minus_zero() -> None:
    # totals 9100, 9101 and 9105 at batch sizes 2, 5 and 16: fitted on 2 and 5, 0.333 per sample and 9099.333
    # fixed, so 9099.333 + 16 x 0.333 = 9104.661 is predicted at 16: -0.0037%, which rounds to -0.0
    points = {str(b): {**_point(b, CPU_ALLOCATOR), "peak": _breakdown(activations, 0, 0)}
              for b, activations in ((2, 5000), (5, 5001), (16, 5005))}
    metrics = memory_metrics(_document(fit_batch_sizes=[2, 5], points=points))
    assert (metrics["fit.check_predicted"].value, metrics["fit.check_measured"].value) == (9105, 9105)
    assert json.dumps(metrics["fit.check_error"].value) == "0.0"


def test_analysis_of_the_written_file_keeps_the_summary_figures_and_tabulates_the_rest(tmp_path: Path) -> None:
    document = _document()
    document["points"]["16"]["phases"]["after_forward"] = None  # a model whose forward the tracker did not see
    path = _written(tmp_path, document)
    analysis = analyze_memory(path)
    assert (analysis.tool, analysis.source) == ("memory", path)
    assert list(analysis.metrics) == [
        "peak_total", "peak_activations", "untracked", "largest_batch_size", "tracked_iterations", "rss", "capacity",
        *(f"fit.{c}.{part}" for c in (*CATEGORIES, TOTAL) for part in ("fixed", "per_sample")),
        "fit.check_batch_size", "fit.check_predicted", "fit.check_measured", "fit.check_error"]
    peak_by_size = {2: _breakdown(600, 100, 60), 4: _breakdown(1200, 200, 80), 16: dict(zip(
        (*CATEGORIES, TOTAL), PEAK_AT_16, strict=True))}
    assert analysis.tables["peak_by_batch_size"] == [{"batch_size": b, **peak_by_size[b]} for b in (2, 4, 16)]
    assert analysis.tables["phases"] == [{"phase": "peak", **peak_by_size[16]},
                                         {"phase": "after_backward", **_breakdown(0, 0, 200)},
                                         {"phase": "after_optimizer_step", **_breakdown(0, 0, 200)}]
    assert analysis.tables["modules"] == [{"module": "encoder", **MODULES["encoder"]},
                                          {"module": "head", **MODULES["head"]}]


def test_the_written_file_is_recognised_and_read_back_as_written(tmp_path: Path) -> None:
    path = _written(tmp_path, _document())
    assert is_memory_file(path)
    assert read_memory_file(path) == {"format": "dnn-suite memory breakdown", "version": 1, **_document()}


def test_other_files_are_not_memory_files(tmp_path: Path) -> None:
    written = _written(tmp_path, _document())
    renamed = written.rename(tmp_path / "memory.txt")
    other_json = tmp_path / "run.json"
    other_json.write_text(json.dumps({"format": "dnn-suite run", "version": 1}))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe" + b"\x00" * 300)
    folder = tmp_path / "folder.json"
    folder.mkdir()
    assert [is_memory_file(p) for p in (renamed, other_json, binary, folder, tmp_path / "missing.json")] == [
        False, False, False, False, False]


def test_a_json_file_holding_memory_documents_further_in_is_not_one(tmp_path: Path) -> None:
    """Only the head of a file is read: the writer puts the format first."""
    command = "dnn-suite run tiny --profiler memory " + " ".join(f"--set model_options.o{i}={i}" for i in range(8))
    collection = tmp_path / "collection.json"
    collection.write_text(json.dumps({"command": command, "runs": [read_memory_file(_written(tmp_path, _document()))]}))
    assert len(command) > 200 and not is_memory_file(collection)


REFUSALS = [
    ("not json", "cannot read it as JSON (Expecting value: line 1 column 1 (char 0))",
     "a dnn-suite memory breakdown JSON file (memory.json of a run's memory profiler)"),
    (json.dumps([1, 2]), "no 'format' field naming it",
     "a dnn-suite memory breakdown JSON file (memory.json of a run's memory profiler)"),
    (json.dumps({"format": "dnn-suite run"}), "no 'format' field naming it",
     "a dnn-suite memory breakdown JSON file (memory.json of a run's memory profiler)"),
    (json.dumps({"format": "dnn-suite memory breakdown", "version": 2}), "version 2", "version 1"),
    (json.dumps({"format": "dnn-suite memory breakdown"}), "version None", "version 1"),
]
ONE_POINT = {"format": "dnn-suite memory breakdown", "version": 1, "points": {"2": {"peak": {"total": 1, "other": 1}}}}
REFUSALS += [
    (json.dumps(ONE_POINT), "run_batch_size None is none of the points' batch sizes",
     "run_batch_size: the batch size of one of 'points'"),
    (json.dumps({**ONE_POINT, "run_batch_size": 4}), "run_batch_size 4 is none of the points' batch sizes",
     "run_batch_size: the batch size of one of 'points'"),
    (json.dumps({**ONE_POINT, "run_batch_size": 2}),
     "the peak at the run's batch size has no parameters, buffers, gradients, optimizer_state, activations, "
     "temporaries", "a peak with parameters, buffers, gradients, optimizer_state, activations, temporaries, other "
     "and total"),
]
POINTS_EXPECTED = "points: {batch size: {peak: {category: bytes, total: bytes}, ...}}"
POINTS_PROBLEM = "'points' is missing or has a point without a 'peak' breakdown"


@pytest.mark.parametrize(("text", "problem", "expected"), [
    *REFUSALS,
    *((json.dumps({"format": "dnn-suite memory breakdown", "version": 1, **points}), POINTS_PROBLEM, POINTS_EXPECTED)
      for points in ({}, {"points": {}}, {"points": [1]}, {"points": {"2": 5}}, {"points": {"2": {"end": {}}}},
                     {"points": {"2": {"peak": [1]}}}, {"points": {"2": {"peak": {"activations": 1}}}},
                     {"points": {"2": {"peak": {"total": 1}}, "4": {"peak": {}}}})),
])
def test_a_broken_file_is_refused_saying_what_is_wrong_and_what_was_expected(
        tmp_path: Path, text: str, problem: str, expected: str) -> None:
    path = tmp_path / "memory.json"
    path.write_text(text)
    with pytest.raises(InvalidProfileFile) as refused:
        read_memory_file(path)
    assert str(refused.value) == f"{path}: {problem}; expected {expected}"


def test_a_file_that_is_not_utf8_or_not_there_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "memory.json"
    binary.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(InvalidProfileFile, match="cannot read it as JSON .*codec can't decode"):
        read_memory_file(binary)
    with pytest.raises(InvalidProfileFile, match="cannot read it as JSON .*No such file"):
        read_memory_file(tmp_path / "missing.json")


def _without_end(document: dict[str, Any]) -> None:
    del document["points"]["16"]["end"]


def _text_in_end(document: dict[str, Any]) -> None:
    document["points"]["2"]["end"]["total"] = "120"


def _partial_phase(document: dict[str, Any]) -> None:
    del document["points"]["4"]["phases"]["after_backward"]["gradients"]


def _fractional_module_figure(document: dict[str, Any]) -> None:
    document["points"]["16"]["modules"] = {"encoder": {"parameters": 1.5}}


@pytest.mark.parametrize(("damage", "problem"), [
    (_without_end, "the point of batch size 16: Object missing required field `end`"),
    (_text_in_end, "the point of batch size 2: Expected `int`, got `str` - at `$.end.total`"),
    (_partial_phase, "the point of batch size 4: Object missing required field `gradients` - at "
                     "`$.phases[...]`"),
    (_fractional_module_figure, "the point of batch size 16: Expected `int | null`, got `float` - at "
                         "`$.modules[...][...]`"),
])
def test_a_point_missing_a_breakdown_or_holding_a_non_integer_is_refused_naming_where(
        tmp_path: Path, damage: Any, problem: str) -> None:
    """What the figures read beyond the run's peak (the end breakdown for the untracked RSS, the phases,
    the modules) is checked with its type before anything is computed: a file edited by hand or cut short
    is refused with where it is wrong, not an internal error (issue 24)."""
    document = json.loads(json.dumps(_document(), allow_nan=True))
    damage(document)
    path = _written(tmp_path, document)
    with pytest.raises(InvalidProfileFile) as refused:
        read_memory_file(path)
    assert str(refused.value).startswith(f"{path}: {problem}; expected a point {{peak: breakdown, end: breakdown")
