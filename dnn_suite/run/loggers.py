"""The loggers a run chose with ``--log-to``: checked before it starts, given it once it ended.

The core names no tracker: the loggers are plugins (``dnn_suite_loggers`` holds MLflow and
TensorBoard; a package adds another through the same entry-point group). What they are given is
a :class:`~dnn_suite.logged_run.LoggedRun`; where each sent the run, or why it could not, is
recorded under ``loggers`` in the run's record and a failure is a one-line warning: the run's
measurements stand.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pluggy

from dnn_suite.context import RunContext
from dnn_suite.errors import one_line
from dnn_suite.logged_run import logged_run
from dnn_suite.plugins import new_plugin_manager
from dnn_suite.registry import Registry


def _manager(run: RunContext, registry: Registry) -> pluggy.PluginManager:
    """A manager holding the run's chosen loggers only."""
    manager = new_plugin_manager()
    for name in run.config.log_to:
        plugin = registry.loggers[name].plugin
        if not manager.is_registered(plugin):
            manager.register(plugin)
    return manager


def preflight(run: RunContext, registry: Registry) -> None:
    """UsageError when a chosen logger cannot work here (its tracker's package missing)."""
    if run.config.log_to:
        _manager(run, registry).hook.dnn_suite_logger_preflight(run=run)


def send(run: RunContext, registry: Registry, kind: str, document: dict[str, Any]) -> dict[str, Any]:
    """Give the finished run (its record ``document`` in ``run.run_dir``) to each chosen logger:
    ``{logger: where it went}`` or ``{logger: {"error": why}}``; one failing does not stop the others."""
    if not run.config.log_to:
        return {}
    assert run.run_dir is not None
    logged = logged_run(kind, Path(run.run_dir), document)
    manager, records = _manager(run, registry), {}
    chosen: dict[object, str] = {}  # each plugin once (one may offer several loggers), named by its first chosen
    for name in run.config.log_to:
        chosen.setdefault(registry.loggers[name].plugin, name)
    for plugin, name in chosen.items():
        others = [p for p in manager.get_plugins() if p is not plugin]
        caller = manager.subset_hook_caller("dnn_suite_log_run", remove_plugins=others)
        try:
            answers = [answer for answer in caller(run=run, logged=logged) if answer is not None]
        except Exception as exc:  # a tracker out of reach must not lose the measured run
            records[name] = {"error": one_line(exc)}
            print(f"dnn-suite: warning: --log-to {name} failed: {records[name]['error']}", file=sys.stderr)
            continue
        for reported, where in answers:
            records[reported] = where
    return records
