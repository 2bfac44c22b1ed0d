"""Plugin discovery and the per-run plugin manager.

Plugins come from the ``dnn_suite`` entry-point group (built-in ones too) and from the
``DNN_SUITE_PLUGINS`` environment variable (comma-separated module paths, handy for tests
and local experiments). A plugin that fails to import or to register is recorded in
:attr:`Registry.broken` and the rest of the suite keeps working.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from typing import Any, Callable, Iterable

import pluggy

from dnn_suite import hookspecs
from dnn_suite.errors import one_line
from dnn_suite.registry import BrokenPlugin, DatasetSpec, LoggerSpec, ModelSpec, Origin, ProfilerSpec, Registry

ENTRY_POINT_GROUP = "dnn_suite"
PLUGINS_ENV = "DNN_SUITE_PLUGINS"


def new_plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def _candidates() -> Iterable[tuple[Origin, Callable[[], Any]]]:
    """Yield (origin, loader) for every plugin to load: entry points, then the env var."""
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist
        origin = Origin(ep.name, dist.name if dist else "?", dist.version if dist else "?")
        yield origin, ep.load
    for module_name in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        origin = Origin(module_name, f"${PLUGINS_ENV}", "-")
        yield origin, lambda name=module_name: importlib.import_module(name)


def discover() -> Registry:
    """Load every plugin and ask each to register its models, profilers, datasets and loggers."""
    manager = new_plugin_manager()
    registry = Registry(manager=manager)
    for origin, load in _candidates():
        plugin = None
        try:
            plugin = load()
            if manager.is_registered(plugin):
                continue
            manager.register(plugin, name=origin.plugin_name)
            _register_from(manager, plugin, origin, registry)
        except Exception as exc:  # a broken plugin must not take the suite down
            if plugin is not None and manager.is_registered(plugin):
                manager.unregister(plugin)
            registry.broken.append(BrokenPlugin(origin, f"{type(exc).__name__}: {one_line(exc)}"))
    return registry


def _register_from(manager: pluggy.PluginManager, plugin: object, origin: Origin, registry: Registry) -> None:
    """Call this one plugin's registration hooks, remembering that it is the provider."""
    callers = manager.subset_hook_caller
    others = [p for p in manager.get_plugins() if p is not plugin]
    declared: list[Any] = []
    callers("dnn_suite_register_models", remove_plugins=others)(register=declared.append)
    callers("dnn_suite_register_profilers", remove_plugins=others)(register=declared.append)
    callers("dnn_suite_register_datasets", remove_plugins=others)(register=declared.append)
    callers("dnn_suite_register_loggers", remove_plugins=others)(register=declared.append)
    for spec in declared:
        if isinstance(spec, ModelSpec):
            registry.add_model(spec, plugin, origin)
        elif isinstance(spec, ProfilerSpec):
            registry.add_profiler(spec, plugin, origin)
        elif isinstance(spec, DatasetSpec):
            registry.add_dataset(spec, plugin, origin)
        elif isinstance(spec, LoggerSpec):
            registry.add_logger(spec, plugin, origin)
        else:
            raise TypeError(f"register() takes a ModelSpec, ProfilerSpec, DatasetSpec or LoggerSpec, "
                            f"got {type(spec).__name__}")


def run_plugin_manager(
    core: object | None, model_plugin: object, profiler_plugins: Iterable[object]
) -> pluggy.PluginManager:
    """A fresh manager holding only what one run uses: the core's loop (``None`` for
    commands without one), the model's plugin and the chosen profilers."""
    manager = new_plugin_manager()
    if core is not None:
        manager.register(core, name="core")
    manager.register(model_plugin)
    for plugin in profiler_plugins:
        if not manager.is_registered(plugin):
            manager.register(plugin)
    return manager
