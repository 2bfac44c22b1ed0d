"""The Python API, for notebooks and scripts: ``dnn_suite.run``, ``load_run``, ``analyze``, ``compare``,
``results``.

Each does what its command does (``dnn-suite run``, ``analyze``, ``compare``, ``results``) and returns what
it found instead of printing it. Bad input raises :class:`dnn_suite.errors.UsageError` with the
command line's one-line message (a missing run directory, an unknown setting or model, a value
out of range). The caller's process is left as it was found: ``run`` restores the SIGINT and
SIGTERM handlers, ``os.environ`` (the allocator's ``MALLOC_*`` variables), the warning filters,
torch's TF32 and cuDNN switches, its threads and the random generators' states it seeds, and
the ``quiet`` setting of the progress bars. The one thing that stays is glibc's allocator
policy (``allocator="kept"``, the default), which glibc cannot undo: pass
``allocator="returned"`` to leave it alone. Docs: docs/python-api.md.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnn_suite import command, progress, signals
from dnn_suite.errors import UsageError
from dnn_suite.reporting import rundirs
from dnn_suite.reporting.compare import Row, compare as compare_rows, format_comparison, regressions
from dnn_suite.run import runstate


@dataclass(frozen=True)
class RunResult:
    """A run directory and its run.json, as :func:`run` and :func:`load_run` return it."""

    run_dir: Path
    document: dict[str, Any]
    """run.json as written"""

    @property
    def status(self) -> str:
        """``ok``, ``failed``, ``interrupted``, or ``crashed`` (still ``running`` in run.json, its process gone)."""
        return runstate.status(self.document)

    @property
    def error(self) -> str | None:
        return self.document.get("error")

    @property
    def metrics(self) -> dict[str, Any]:
        """run.json's ``metrics``: throughput, step times, windows, memory ({} when none were measured)."""
        return self.document.get("metrics") or {}

    @property
    def config(self) -> dict[str, Any]:
        """The settings the run resolved to (run.json's ``config``)."""
        return self.document.get("config") or {}

    @property
    def evaluation(self) -> dict[str, Any] | None:
        return self.document.get("evaluation")


@dataclass(frozen=True)
class Comparison:
    """Runs' headline metrics against the first, with verdicts beyond noise, as ``dnn-suite compare`` gives them."""

    runs: list[RunResult]
    rows: list[Row]
    """one per headline metric: its cells hold each run's value, delta, noise band and verdict"""
    text: str
    """the table ``dnn-suite compare`` prints"""

    @property
    def regressions(self) -> list[tuple[str, int]]:
        """(metric key, run number from 1) of every regression beyond noise."""
        return [(headline.key, index) for headline, index, _ in regressions(self.rows)]

    def __str__(self) -> str:
        return self.text


def run(model: str, *, config: str | Path | None = None, quiet: bool = False, **settings: Any) -> RunResult:
    """Benchmark ``model`` (a model, ``model-variant``, or a benchmark of the suite.yaml ``config``)
    in this process, as ``dnn-suite run`` does, with the run settings by their names
    (``batch_size=2, iterations=10, model_options={"image_size": 32}``; the list: ``dnn-suite run
    --help`` or docs/reference/settings.md). ``quiet`` turns the progress bars off.

    Returns the run as recorded, whether it ended ok or not (see :attr:`RunResult.status`).
    Raises UsageError on bad input, before anything runs where it can be seen then. Runs here, one
    at a time: a sweep, several processes or a scheduler's executor are the command line's."""
    with _caller_kept(), command.warnings_for_users(debug=False), signals.interrupting():
        progress.set_quiet(quiet)
        return _run(model, config, settings)


def _run(model: str, config_file: str | Path | None, settings: dict[str, Any]) -> RunResult:
    from dnn_suite import executors
    from dnn_suite.plugins import discover
    from dnn_suite.run import allocator
    from dnn_suite.run.checkpoint_settings import trained_config
    from dnn_suite.run.runner import Run
    from dnn_suite.settings.resolve import check_settings, load_suite, resolve

    flags = check_settings({name: _plain(value) for name, value in settings.items()})
    suite = load_suite(config_file) if config_file is not None else None
    registry = discover()
    weights = (flags.get("model_options") or {}).get("weights")
    if isinstance(weights, str) and weights:  # the settings the checkpoint was trained with, unless given
        config = trained_config(Path(weights), model, registry, suite=suite, flags=flags)
    else:
        config = resolve(model, registry, suite=suite, flags=flags)
    if config.batch_sizes:
        raise UsageError(f"batch_sizes {config.batch_sizes}: dnn_suite.run runs one batch size; sweep with "
                         "`dnn-suite run --batch-size 2,4,8`, or call dnn_suite.run once per batch size")
    if executors.chosen(config.executor) != "local":
        raise UsageError(f"executor {config.executor}: dnn_suite.run runs in this process; submit to the scheduler "
                         f"with `dnn-suite run --executor {config.executor}`")
    allocator.apply(config.allocator)
    benchmark = Run(config, registry)
    benchmark.preflight()
    run_dir = benchmark.create_run_dir()
    if benchmark.launcher:
        benchmark.execute_under_launcher(echo=False)
    else:
        benchmark.execute()
    return RunResult(run_dir, benchmark.document)


def _plain(value: Any) -> Any:
    """A setting's value as suite.yaml would give it: paths as strings, in mappings and lists too."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def load_run(path: str | Path) -> RunResult:
    """The run directory at ``path`` (its run.json checked as ``dnn-suite compare`` checks it)."""
    loaded = rundirs.load_run(Path(path))
    return RunResult(loaded.path, loaded.document)


def analyze(path: str | Path) -> dict[str, dict[str, Any]]:
    """``dnn-suite analyze PATH --json``'s answer: each analysis (of a profiler artefact, a directory
    of PyTorch profiler traces, or every artefact of a run directory) by name, as JSON data, also
    written where the command writes it (``<file>.analysis.json``, a run directory's ``analysis.json``).
    Needs torch only for an artefact that only a third-party plugin reads."""
    from dnn_suite.analyzing import analyses_by_any_plugin

    results, _ = analyses_by_any_plugin(Path(path))
    return {name: analysis.to_json() for name, analysis in results.items()}


def compare(*paths: str | Path, ignore_busy: bool = False) -> Comparison:
    """Runs side by side, the first the baseline, as ``dnn-suite compare`` compares them;
    ``ignore_busy`` gives verdicts for runs measured on a busy machine too."""
    if len(paths) < 2:
        raise UsageError("compare needs at least two run directories (the first is the baseline)")
    loaded = [rundirs.load_run(Path(path)) for path in paths]
    rows = compare_rows(loaded, ignore_busy=ignore_busy)
    return Comparison([RunResult(run.path, run.document) for run in loaded], rows,
                      format_comparison(loaded, rows, ignore_busy=ignore_busy))


def results(*paths: str | Path, where: list[str] | None = None, sort: str | None = None,
            descending: bool = False) -> Any:
    """``dnn-suite results DIR...``'s table: every run and sweep point under ``paths``, those matching
    every ``where`` condition (``"model=resnet18"``, ``"throughput>100"``), sorted by the column
    ``sort``. A pandas DataFrame where pandas is installed, else a list of rows (dicts with the same
    keys, in the table's order)."""
    from importlib.util import find_spec

    from dnn_suite.reporting.results import collect, to_dataframe

    rows = collect(list(paths), where=where, sort=sort, descending=descending)
    return to_dataframe(rows) if find_spec("pandas") is not None else rows


@contextmanager
def _caller_kept() -> Iterator[None]:
    """As they were on entering: the environment variables, the progress bars' quiet setting, the
    states of Python's, numpy's and torch's random generators (a run seeds them all), torch's
    switches and threads (:func:`dnn_suite.run.backends.restored`)."""
    import numpy as np
    import torch

    from dnn_suite.run import backends

    environment, quiet = dict(os.environ), progress.is_quiet()
    python_state, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        with backends.restored():
            yield
    finally:
        progress.set_quiet(quiet)
        if dict(os.environ) != environment:
            os.environ.clear()
            os.environ.update(environment)
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
