"""The memory parts of ``dnn-suite report``, from any profiler's ``memory.json`` (the memory
breakdown format, see :data:`dnn_suite.memory_model.FILE_FORMAT`): per run, a stacked bar of
the categories at the peak and each phase boundary, the per-module table and the batch-size
fit; per sweep, memory against batch size with the fit across the sweep's runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dnn_suite.memory_model import CATEGORIES, FILE_FORMAT, TOTAL, BatchModel, fit_tracked, fit_with_holdout
from dnn_suite.reporting import plots
from dnn_suite.reporting.plots import Axes, Series
from dnn_suite.reporting.render import Block, Image, Table, Text
from dnn_suite.reporting.rundirs import RunDir, read_json

MIB = 2**20
ImageMaker = Callable[..., list[Block]]


def memory_file(run: RunDir) -> dict[str, Any] | None:
    """The run's memory breakdown, whichever profiler wrote it."""
    for profiler in run.profilers:
        document = read_json(run.artefact(profiler, "memory.json"))
        if isinstance(document, dict) and document.get("format") == FILE_FORMAT and document.get("points"):
            return document
    return None


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:,.2f}"


def run_blocks(run: RunDir, image: ImageMaker) -> list[Block]:
    """A run's memory section: ``image(name, caption, draw, *args)`` draws when plotting."""
    document = memory_file(run)
    if document is None:
        return []
    batch = document["run_batch_size"]
    point = document["points"][str(batch)]
    phases = {"peak": point["peak"], **{k: v for k, v in (point.get("phases") or {}).items() if v}}
    tracked = document.get("tracked") or []
    sizes = ", ".join(dict.fromkeys(str(t["batch_size"]) for t in tracked))
    when = "; ".join(dict.fromkeys(t["when"] for t in tracked))
    blocks: list[Block] = [Text(f"Tensor memory on {document.get('device')} by category (MemTracker), batch size "
                                f"{batch}; {len(tracked)} tracked iteration(s) of batch sizes {sizes}, {when}, "
                                "not measured.")]
    blocks += image("memory_categories", "Memory by category at the peak and after each phase (MiB)",
                    plots.stacked_bars, list(phases), {c: [phases[p][c] / MIB for p in phases] for c in CATEGORIES},
                    Axes("MiB", ""))
    blocks.append(Table(["phase", *CATEGORIES, TOTAL], [[p, *(_mib(b[c]) for c in (*CATEGORIES, TOTAL))]
                                                        for p, b in phases.items()]))
    modules = point.get("modules") or {}
    if modules:
        keys = list(next(iter(modules.values())))
        blocks.append(Text("Per top-level module (MiB): activations are what its forward left allocated when it "
                           "returned; peak rises are how far memory rose above where its forward/backward started."))
        blocks.append(Table(["module", *keys], [[name, *(_mib(row.get(k)) for k in keys)]
                                                for name, row in modules.items()]))
    blocks += _allocator(point, document)
    peaks = {int(b): p["peak"] for b, p in document["points"].items()}
    model, held_out = fit_tracked(peaks, [int(b) for b in document.get("fit_batch_sizes") or []])
    if model is not None:
        blocks += fit_blocks(model, peaks, held_out, document.get("capacity_bytes"), document.get("capacity_source"))
    return blocks


def _allocator(point: dict[str, Any], document: dict[str, Any]) -> list[Block]:
    allocator = point.get("allocator") or {}
    if "cuda_peak_allocated" in allocator:
        untracked = allocator["cuda_peak_allocated"] - point["peak"][TOTAL]
        return [Text(f"CUDA allocator during the tracked iteration: peak allocated {_mib(allocator['cuda_peak_allocated'])}"
                     f" MiB, reserved {_mib(allocator['cuda_peak_reserved'])} MiB (fragmentation "
                     f"{_mib(allocator['cuda_fragmentation'])} MiB), {allocator['cuda_alloc_retries']} allocation "
                     f"retries, {allocator['cuda_ooms']} OOMs; {_mib(untracked)} MiB allocated that the tracker "
                     f"did not see (workspaces, allocations outside tensors).")]
    if "rss" in allocator:
        return [Text(f"Process RSS after the tracked iteration {_mib(allocator['rss'])} MiB, of which "
                     f"{_mib(allocator['rss'] - point['end'][TOTAL])} MiB is not tracked tensor memory "
                     "(interpreter, libraries, allocator caches, oneDNN workspaces).")]
    return []


def fit_notes(model: BatchModel, peaks: dict[int, dict[str, float]], held_out: int | None,
              capacity: float | None, capacity_source: str | None) -> list[str]:
    """The check against the held-out batch size and the largest batch that fits, as sentences."""
    notes = []
    if held_out is not None:
        measured = peaks[held_out][TOTAL]
        notes.append(f"Checked at batch size {held_out}: predicted {_mib(model.predict(held_out))} MiB, tracked "
                     f"{_mib(measured)} MiB, error {100 * model.error(held_out, measured):+.2f}%.")
    if capacity:
        largest = model.largest_batch(capacity)
        notes.append(f"Largest batch size whose predicted peak fits {_mib(capacity)} MiB ({capacity_source}): "
                     f"{largest if largest is not None else 'none'}.")
    return notes


def fit_blocks(model: BatchModel, peaks: dict[int, dict[str, float]], held_out: int | None,
               capacity: float | None, capacity_source: str | None) -> list[Block]:
    sizes = ", ".join(map(str, model.batch_sizes))
    rows = [[c, _mib(line.fixed), _mib(line.per_sample)] for c, line in model.lines.items()]
    blocks: list[Block] = [Text(f"Memory = fixed + per sample x batch size, fitted on batch sizes {sizes} (MiB):"),
                           Table(["category", "fixed (MiB)", "per sample (MiB)"], rows)]
    return blocks + [Text(note) for note in fit_notes(model, peaks, held_out, capacity, capacity_source)]


def _sweep_fit(runs: list[RunDir]) -> tuple[BatchModel, int | None, dict[int, dict[str, float]], dict[str, Any]] | None:
    """Fit over a sweep's runs that tracked memory: every batch size but the largest, which checks it."""
    documents = {run.config.get("batch_size"): doc for run in runs if (doc := memory_file(run)) is not None}
    peaks = {int(b): doc["points"][str(doc["run_batch_size"])]["peak"] for b, doc in documents.items()}
    if len(peaks) < 2:
        return None
    model, held_out = fit_with_holdout(peaks)
    return model, held_out, peaks, documents[max(peaks)]


def sweep_fit(runs: list[RunDir]) -> dict[str, Any] | None:
    """The sweep's fit for sweep.json (bytes), and its sentences for the console."""
    fitted = _sweep_fit(runs)
    if fitted is None:
        return None
    model, held_out, peaks, last = fitted
    capacity = last.get("capacity_bytes")
    result: dict[str, Any] = {
        "batch_sizes": list(model.batch_sizes), "unit": "bytes",
        "lines": {c: {"fixed": line.fixed, "per_sample": line.per_sample} for c, line in model.lines.items()},
        "check": None, "capacity_bytes": capacity, "capacity_source": last.get("capacity_source"),
        "largest_batch_size": model.largest_batch(capacity) if capacity else None,
        "notes": fit_notes(model, peaks, held_out, capacity, last.get("capacity_source")),
    }
    if held_out is not None:
        measured = peaks[held_out][TOTAL]
        result["check"] = {"batch_size": held_out, "predicted": model.predict(held_out), "measured": measured,
                           "error_pct": round(100 * model.error(held_out, measured), 2)}
    return result


def sweep_blocks(runs: list[RunDir], plotting: bool) -> list[Block]:
    """Peak memory against batch size over a sweep's runs that tracked memory, with the fit."""
    fitted = _sweep_fit(runs)
    if fitted is None:
        return []
    model, held_out, peaks, last = fitted
    sizes = sorted(peaks)
    blocks: list[Block] = [Table(["batch size", *CATEGORIES, TOTAL],
                                 [[str(b), *(_mib(peaks[b][c]) for c in (*CATEGORIES, TOTAL))] for b in sizes])]
    if plotting:
        series = [Series("tracked peak", sizes, [peaks[b][TOTAL] / MIB for b in sizes]),
                  Series("activations at the peak", sizes, [peaks[b]["activations"] / MIB for b in sizes]),
                  Series(f"fit on {', '.join(map(str, model.batch_sizes))}", sizes,
                         [model.predict(b) / MIB for b in sizes])]
        png = plots.lines(series, Axes("batch size", "memory (MiB)", ymin=0), markers=True)
        blocks.append(Image("memory_vs_batch_size", "Tracked peak memory against batch size, with the fit", png))
    return blocks + fit_blocks(model, peaks, held_out, last.get("capacity_bytes"), last.get("capacity_source"))
