"""A sweep's declaration: the run settings it varies and the values each takes.

``sweep:`` in a suite.yaml entry (or its ``defaults``) and ``--sweep KEY=V1,V2`` on the command
line map a setting's *key path* to a list of values: a run setting (``model``, ``variant``,
``batch_size``, ``workers``, ``channels_last``...), a model option (``model_options.amp``) or a
profiler option (``profiler_options.nvml.interval_ms``). The sweep runs every combination
(:func:`combinations`), each resolved as a run of its own with the combination as its top
layer (:func:`point_layer`). Nothing here knows a setting by name but those that cannot vary
(:data:`NOT_SWEPT`): a setting declared in :mod:`dnn_suite.settings.declared` can be swept.

Two checks, before anything runs, each error naming where the key was declared:
:func:`check_axes` (keys and values against the settings' declarations, when suite.yaml or the
flag is read) and :func:`check_against_plugins` (model names, variants, datasets, and the model
and profiler options against each swept model's and profiler's declarations).
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Callable

import yaml

from dnn_suite.errors import UsageError
from dnn_suite.registry import ModelSpec, Registry, check_variant
from dnn_suite.settings.declared import USER_SETTINGS, nesting

#: settings a sweep cannot vary, and why
NOT_SWEPT = {
    "sweep": "a sweep cannot hold another",
    "batch_sizes": "sweep batch_size",
    "profilers": "every point runs all the profilers given (those that cannot share a run in passes of their own)",
    "output": "every point writes into the sweep's directory",
    "executor": "the points of one sweep run on one executor",
    "slurm": "the points of one sweep run on one executor",
    "allocator": "the policy is set in the environment the sweep's processes share; run one sweep per policy",
}
#: settings whose values depend on the model: checked against each swept model
MODEL_DEPENDENT = ("variant", "dataset", "eval_dataset")
Where = Callable[[str], str]


def key_paths() -> list[str]:
    """The key paths a sweep takes, as an error lists them (``model_options.NAME``)."""
    return [".".join([name, *nesting(s.type)]) for name, s in USER_SETTINGS.items() if name not in NOT_SWEPT]


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (bool, type(None))) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_axes(axes: dict[str, Any], where: Where) -> dict[str, list[Any]]:
    """The sweep's keys and values checked against the settings' declarations (``where(key)``
    names a key's place: ``suite.yaml:7: benchmarks.s.sweep.model``); the axes as given."""
    for key, values in axes.items():
        key = str(key)
        parts = key.split(".")
        setting = USER_SETTINGS.get(parts[0])
        if setting is None or len(parts) != 1 + len(nesting(setting.type)) or not all(parts):
            raise UsageError(f"{where(key)}: unknown setting (a sweep takes {', '.join(key_paths())})")
        if parts[0] in NOT_SWEPT:
            raise UsageError(f"{where(key)}: cannot be swept ({NOT_SWEPT[parts[0]]})")
        if not isinstance(values, list) or not values:
            raise UsageError(f"{where(key)}: expected a non-empty list of values, got {_short(values)}")
        seen = set()
        for value in values:
            if not nesting(setting.type) and not setting.type.accepts(value):
                raise UsageError(f"{where(key)}: expected a list of values each {setting.type.expected}, "
                                 f"got {_short(value)}")
            text = json.dumps(value, sort_keys=True, default=str)
            if text in seen:
                raise UsageError(f"{where(key)}: lists {_short(value)} twice; expected each value once")
            seen.add(text)
    return {str(key): list(values) for key, values in axes.items()}


def parse_flags(pairs: list[str]) -> dict[str, list[Any]]:
    """``--sweep KEY=V1,V2`` pairs (one per key) as axes; each value read as YAML (``false``,
    ``8``, ``bf16``), a whole YAML list too (``--sweep model_options.size=[1,2]``)."""
    axes: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key or not text:
            raise UsageError(f"--sweep {pair!r}: expected KEY=V1,V2,... (e.g. --sweep model=resnet18,resnet50)")
        if key in axes:
            raise UsageError(f"--sweep {key}: given twice; expected each key once, with all its values")
        axes[key] = _values(key, text)
    return check_axes(axes, lambda key: f"--sweep {key}")


def _values(key: str, text: str) -> list[Any]:
    try:
        whole = yaml.safe_load(text)
        if isinstance(whole, list):
            return whole
        return [yaml.safe_load(part) if part else part for part in text.split(",")]
    except yaml.YAMLError:
        raise UsageError(f"--sweep {key}: cannot read {text!r}; expected values separated by commas") from None


def replaced(layer: dict[str, Any]) -> set[str]:
    """The axes a configuration layer's own values replace: a value given later wins over a
    sweep declared earlier (``--batch-size 8`` over a suite's ``sweep: {batch_size: [...]}``)."""
    keys: set[str] = set()
    for name, value in layer.items():
        if name == "sweep":
            continue
        setting = USER_SETTINGS.get(name)
        depth = len(nesting(setting.type)) if setting else 0
        keys |= set(_paths(name, value, depth))
    if "batch_sizes" in layer:
        keys.add("batch_size")
    return keys


def _paths(prefix: str, value: Any, depth: int) -> list[str]:
    if depth == 0 or not isinstance(value, dict):
        return [prefix]
    return [path for key, inner in value.items() for path in _paths(f"{prefix}.{key}", inner, depth - 1)]


def combinations(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def point_layer(values: dict[str, Any]) -> dict[str, Any]:
    """A combination as a configuration layer: ``{"model_options.amp": True}`` -> ``{"model_options": {"amp": True}}``."""
    layer: dict[str, Any] = {}
    for key, value in values.items():
        *parents, last = key.split(".")
        target = layer
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return layer


def describe(values: dict[str, Any]) -> str:
    """``model=resnet50 model_options.amp=true``: a point's values in a message or a table."""
    return " ".join(f"{key}={value_text(value)}" for key, value in values.items())


def value_text(value: Any) -> str:
    """A swept value as a table or a message shows it (``true``, ``resnet50``, ``8``)."""
    return json.dumps(value) if isinstance(value, (bool, type(None), list, dict)) else str(value)


def check_against_plugins(axes: dict[str, list[Any]], where: Where, model: ModelSpec, registry: Registry) -> None:
    """Model names, variants, datasets and options of the sweep against the plugins' declarations:
    a model option swept must be one of every swept model (``model``: the run's model when the
    sweep does not vary it)."""
    specs = [model]
    if "model" in axes:
        specs = []
        for name in axes["model"]:
            try:
                entry, _ = registry.model(name)
            except UsageError as error:
                raise UsageError(f"{where('model')}: {error}") from None
            assert isinstance(entry.spec, ModelSpec)
            specs.append(entry.spec)
    for key, values in axes.items():
        parts = key.split(".")
        for value in values:
            try:
                if parts[0] == "variant":
                    for spec in specs:
                        check_variant(spec, value)
                elif parts[0] in MODEL_DEPENDENT:
                    for spec in specs:
                        if not spec.accepts_dataset(value):
                            raise UsageError(f"unknown dataset {value!r} for model {spec.name} "
                                             f"(available: {', '.join(spec.datasets)})")
                elif parts[0] == "model_options":
                    for spec in specs:
                        _option(spec.options, parts[1], f"model {spec.name}").check(f"model {spec.name}", value)
                elif parts[0] == "profiler_options":
                    profiler = registry.profiler(parts[1]).spec
                    _option(profiler.options, parts[2], f"profiler {profiler.name}").check(
                        f"profiler {profiler.name}", value)
            except UsageError as error:
                raise UsageError(f"{where(key)}: {error}") from None


def _option(options: Any, name: str, owner: str) -> Any:
    for option in options:
        if option.name == name:
            return option
    names = ", ".join(option.name for option in options) or "none"
    raise UsageError(f"{owner} has no option {name!r} (its options: {names})")
