"""``memory``: where training memory goes, by category and by top-level module, and the
largest batch that fits.

After the warmup and before the first measured window, ``iterations`` training iterations
(default 1) of the run's batch size, and one of each size in ``fit_batch_sizes``, run under
torch's ``MemTracker`` (see :mod:`.memory_tracking`), so the measured throughput is never the
tracked one; run.json's ``tracked_iterations`` says which they were. On CUDA the allocator's
peak statistics are reset again after them, so the run's own peak memory excludes them.

Options: ``fit_batch_sizes`` (two or more batch sizes to fit memory = fixed + per-sample x
batch from, in this run; the run's batch size, if not among them, checks the fit),
``capacity_gib`` (memory to fit the largest batch into; 0: the device's total memory on CUDA,
the machine's available memory on CPU), ``snapshot`` (CUDA: record one more iteration with
``torch.cuda.memory._record_memory_history`` and write ``snapshot.pickle``, which
https://pytorch.org/memory_viz opens). Artefact: ``memory.json``
(:mod:`.analyzers.memory`), which ``dnn-suite analyze`` and ``dnn-suite report`` read.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Iterator

import psutil

from dnn_suite.context import RunContext
from dnn_suite.errors import UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.options import Option
from dnn_suite.registry import ProfilerSpec
from dnn_suite.value_types import Integer, ListOf, Number, Satisfying
from dnn_suite_profilers.analyzers.memory import memory_metrics, write_memory_file

NAME = "memory"
FILE = "memory.json"
SNAPSHOT_FILE = "snapshot.pickle"
GIB = 2**30


@hookimpl
def dnn_suite_register_profilers(register):
    register(ProfilerSpec(
        name=NAME,
        one_process=True,
        description="memory by category (weights, gradients, optimizer state, activations, temporaries) and "
                    "top-level module, on tracked iterations outside the measured windows; largest batch that fits",
        measures=("bytes per category at the peak and phase boundaries", "per-module memory",
                  "CUDA allocated/reserved, fragmentation, retries", "fixed + per-sample fit, largest batch size"),
        options=(
            Option("iterations", 1, "tracked iterations at the run's batch size (the last one is reported)",
                   Integer(minimum=1)),
            Option("fit_batch_sizes", [], "batch sizes also tracked in this run to fit memory against batch size "
                   "(two or more)", Satisfying(ListOf(Integer(minimum=1)), lambda sizes: len(set(sizes)) != 1,
                                               expected="a list of two or more positive batch sizes (or [])")),
            Option("capacity_gib", 0.0, "memory the largest batch must fit in, GiB (0: CUDA device total, or "
                   "available RAM)", Number(minimum=0, expected="a number of GiB >= 0")),
            Option("snapshot", False, "CUDA only: write a memory snapshot of one more iteration for "
                   "https://pytorch.org/memory_viz"),
            Option("snapshot_max_entries", 100000, "allocation events the snapshot keeps", Integer(minimum=1)),
        ),
    ))


@hookimpl
def dnn_suite_profiler_preflight(run: RunContext):
    if run.profiler_options(NAME)["snapshot"] and run.device.type != "cuda":
        raise UsageError(f"profiler memory option 'snapshot': CUDA memory snapshots need a CUDA run, this one is on "
                         f"{run.device} (use --device cuda, or drop the option)")


def _capacity(run: RunContext) -> tuple[int, str]:
    gib = run.profiler_options(NAME)["capacity_gib"]
    if gib:
        return int(gib * GIB), f"capacity_gib={gib}"
    if run.device.type == "cuda":
        import torch  # here and below, not at the top: registration needs no torch, so `dnn-suite list` stays light

        return torch.cuda.get_device_properties(run.device).total_memory, f"total memory of {run.device}"
    return psutil.virtual_memory().available, "available memory of this machine"


def _batches(run: RunContext, batch_size: int) -> tuple[RunContext, Iterator[Any]]:
    """Batches of another size: the model plugin's train loader, built for that batch size."""
    other = dataclasses.replace(run, config=dataclasses.replace(run.config, batch_size=batch_size))
    return other, iter(run.hook.dnn_suite_build_dataloader(run=other, split="train"))


def _tracked(run: RunContext, context: RunContext, batch: Any) -> dict[str, Any]:
    # Imported here: torch's MemTracker pulls in torch.distributed._tools (seconds), which every
    # dnn-suite command would otherwise pay at plugin discovery.
    from dnn_suite_profilers.memory_tracking import track_iteration

    training = run.training
    assert training is not None

    def step() -> None:
        run.hook.dnn_suite_train_step(run=context, model=training.model, batch=batch, optimizer=training.optimizer)

    return track_iteration(training.model, training.optimizer, step, run.device, inputs=batch)


def _track(run: RunContext) -> dict[str, Any]:
    """The tracked iterations: the run's batch size first, then each of ``fit_batch_sizes``."""
    options = run.profiler_options(NAME)
    training = run.training
    assert training is not None
    when = f"after the {run.config.warmup} warmup iteration(s), before measured window 1"
    points: dict[str, Any] = {}
    tracked = []
    for index in range(options["iterations"]):
        points[str(run.config.batch_size)] = _tracked(run, run, training.next_batch())
        tracked.append({"batch_size": run.config.batch_size, "iteration": index, "when": when})
    for batch_size in options["fit_batch_sizes"]:
        if str(batch_size) in points:
            continue
        context, batches = _batches(run, batch_size)
        batch = next(batches, None)
        if batch is None:
            raise UsageError(f"profiler memory option 'fit_batch_sizes': the training data yields no batch of "
                             f"{batch_size} samples (expected batch sizes up to the training set's size)")
        points[str(batch_size)] = _tracked(run, context, batch)
        tracked.append({"batch_size": batch_size, "iteration": 0, "when": when})
    capacity, source = _capacity(run)
    return {"device": str(run.device), "unit": "bytes", "run_batch_size": run.config.batch_size,
            "fit_batch_sizes": list(options["fit_batch_sizes"]), "capacity_bytes": capacity,
            "capacity_source": source, "tracked": tracked, "points": points, "snapshot": None}


def _snapshot(run: RunContext) -> str:
    """One more (untracked) iteration with the CUDA allocator's history recorded, dumped to
    ``snapshot.pickle`` (temporary name, then rename)."""
    training = run.training
    assert training is not None
    folder = run.profiler_dir(NAME)
    tmp = folder / f".{SNAPSHOT_FILE}.{os.getpid()}.tmp"
    import torch

    torch.cuda.memory._record_memory_history(max_entries=run.profiler_options(NAME)["snapshot_max_entries"])
    try:
        run.hook.dnn_suite_train_step(run=run, model=training.model, batch=training.next_batch(),
                                      optimizer=training.optimizer)
        run.synchronize()
        torch.cuda.memory._dump_snapshot(str(tmp))
        os.replace(tmp, folder / SNAPSHOT_FILE)
    finally:
        torch.cuda.memory._record_memory_history(enabled=None)
        tmp.unlink(missing_ok=True)
    return SNAPSHOT_FILE


@hookimpl(wrapper=True, tryfirst=True)
def dnn_suite_measured_window(run: RunContext, window: int):
    """Outermost of the window wrappers (``tryfirst``), so that the tracked iterations happen
    before any other profiler opens its capture or starts sampling."""
    if window == 0 and run.training is not None:
        document = _track(run)
        if run.profiler_options(NAME)["snapshot"]:
            document["snapshot"] = _snapshot(run)
        run.state[NAME] = document
        if run.device.type == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats(run.device)
    return (yield)


@hookimpl
def dnn_suite_profiler_report(run: RunContext):
    document = run.state.get(NAME)
    if document is None:  # interrupted or failed before the first measured window
        return NAME, {}
    folder = run.profiler_dir(NAME)
    write_memory_file(folder / FILE, document)
    if document["snapshot"]:
        print(f"dnn-suite: memory snapshot of one iteration: {folder / SNAPSHOT_FILE}; open it by dropping it on "
              "https://pytorch.org/memory_viz (or: python -m torch.cuda._memory_viz trace_plot FILE -o trace.html)",
              file=sys.stderr)
    return NAME, memory_metrics(document)
