"""``dnn-suite analyze PATH``: the analyzers on one file, a directory of traces or a run directory.

Light on purpose: neither this module nor the built-in analyzers import torch, so that
``analyze`` starts in a fraction of a second and runs where torch is not installed. The console
entry (:mod:`dnn_suite.entry`) first answers with the built-in analyzers alone
(:func:`main_builtin`) and hands over to the full command line, which loads every plugin, only
when a third-party plugin could read what the built-in ones do not.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from dnn_suite import signals
from dnn_suite.atomic import to_json_text, write_json_atomic
from dnn_suite.errors import UsageError
from dnn_suite.plugins import ENTRY_POINT_GROUP, PLUGINS_ENV, new_plugin_manager

AnalyzeHook = Callable[..., Any]
DISTRIBUTION = "dnn-suite"
BUILTIN_ANALYZER = "dnn_suite.analyze"  # the entry point of the built-in file formats


def run_dir_analyses(run_dir: Path, hook: AnalyzeHook) -> dict[str, Any]:
    """Each profiler folder of a run, and each folder inside one, analysed whole where its tool's
    output is a set of files (the torch profiler's per-rank traces in ``torch/traces/``), else
    file by file."""
    results: dict[str, Any] = {}
    for folder in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        _folder_analyses(folder, run_dir, hook, results)
    return results


def _folder_analyses(folder: Path, run_dir: Path, hook: AnalyzeHook, results: dict[str, Any]) -> None:
    whole = hook(path=folder)
    if whole is not None:
        results[str(folder.relative_to(run_dir))] = whole
        return
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            _folder_analyses(entry, run_dir, hook, results)
        elif entry.is_file():
            analysis = hook(path=entry)
            if analysis is not None:
                results[str(entry.relative_to(run_dir))] = analysis


def analyze_path(path: Path, hook: AnalyzeHook, *, as_json: bool) -> int:
    """Run the matching analyzer on one artefact, or on every artefact of a run directory; the
    metrics are printed and written as JSON (see :func:`analyses`)."""
    results, out = analyses(path, hook)
    for analysis in results.values():
        for warning in analysis.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if as_json:
        sys.stdout.write(to_json_text({name: analysis.to_json() for name, analysis in results.items()}))
    else:
        for name, analysis in results.items():
            print(f"== {name}")
            print(analysis.format_text())
        print(f"written to {out}")
    return 0


def analyses(path: Path, hook: AnalyzeHook) -> tuple[dict[str, Any], Path]:
    """The analyses of one artefact, or of every artefact of a run directory, by name, and the file
    they were written to as JSON: next to the input (``<file>.analysis.json``,
    ``<directory>.analysis.json`` for a directory of traces), ``analysis.json`` in a run directory."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    if not path.is_file() and not path.is_dir():
        raise UsageError(f"{path}: not a regular file or a directory; expected a profiler output file or a run "
                         "directory")
    if path.is_file() or not (path / "run.json").is_file():
        analysis = hook(path=path)
        if analysis is None and path.is_dir():
            raise UsageError(f"{path}: found no profiler artefact to analyze: neither a run directory (run.json) "
                             "nor a directory of PyTorch profiler traces (*.json[.gz] with traceEvents)")
        if analysis is None:
            raise UsageError(f"{path}: not an output format any installed profiler can analyze (PyTorch profiler "
                             "trace .json[.gz], nvprof .nvvp, nsys .sqlite or kern_sum CSV, ncu CSV log, "
                             "NVML samples CSV)")
        results = {str(path): analysis}
        # beside the input, a directory of traces too: HTA reads every .json inside its trace_dir
        out = path.with_name(path.name + ".analysis.json")
    else:
        results = run_dir_analyses(path, hook)
        if not results:
            raise UsageError(f"{path}: found no profiler artefact to analyze in its profiler folders")
        out = path / "analysis.json"
    write_json_atomic(out, {name: analysis.to_json() for name, analysis in results.items()})
    return results, out


def main_builtin(argv: Sequence[str]) -> int | None:
    """``[--debug] [--quiet] analyze PATH [--json]`` with the built-in analyzers, or ``None``
    when the full command line must answer: other arguments (``--help``), or a path the built-in
    analyzers do not read while third-party plugins are installed that might."""
    flags = {"--debug", "--quiet", "--json"}
    words = [word for word in argv if word not in flags]
    if len(words) != 2 or words[0] != "analyze" or words[1].startswith("-"):
        return None
    path, as_json = Path(words[1]), "--json" in argv
    hook = _builtin_hook()
    if hook is None:
        return None
    signals.install()
    try:
        return analyze_path(path, hook, as_json=as_json)
    except UsageError:
        if _other_plugins():
            return None
        raise


def _builtin_hook() -> AnalyzeHook | None:
    """The built-in analyzers' hook: the one entry point named ``dnn_suite.analyze`` (``None`` when a
    plugin package registers another of that name: then the full command line decides). Its
    distribution is not read: that parses package metadata, a tenth of a small trace's time."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=BUILTIN_ANALYZER)
    if len(found) != 1:
        return None
    manager = new_plugin_manager()
    manager.register(next(iter(found)).load(), name=BUILTIN_ANALYZER)
    return manager.hook.dnn_suite_analyze_file


def _other_plugins() -> bool:
    """Whether any plugin besides dnn-suite's own could add an analyzer."""
    if os.environ.get(PLUGINS_ENV, "").strip():
        return True
    return any(ep.dist is None or ep.dist.name != DISTRIBUTION for ep in entry_points(group=ENTRY_POINT_GROUP))


def analyses_by_any_plugin(path: Path) -> tuple[dict[str, Any], Path]:
    """:func:`analyses` with the built-in analyzers, and with every plugin's (loading them imports
    torch) where those read nothing and other plugins are installed that might."""
    hook = _builtin_hook()
    if hook is not None:
        try:
            return analyses(path, hook)
        except UsageError:
            if not _other_plugins():
                raise
    from dnn_suite.plugins import discover

    return analyses(path, discover().manager.hook.dnn_suite_analyze_file)
