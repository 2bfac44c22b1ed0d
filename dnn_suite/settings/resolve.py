"""suite.yaml + flags -> one validated run configuration.

Layers, later ones winning: built-in defaults, the model's own defaults, suite.yaml's
``defaults``, the named benchmark entry, then command-line flags and ``--set`` pairs.
Every error names the file, the key path (and line, for YAML) and what was expected.
A ``sweep`` (:mod:`dnn_suite.settings.sweep_axes`) is checked here with the rest; each of its
points is resolved as a run of its own, the point's values a layer above all (:func:`with_point`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from dnn_suite.run.allocator import policy_named as allocator_policy
from dnn_suite.errors import UsageError
from dnn_suite.options import defaults as option_defaults
from dnn_suite.options import resolve_options
from dnn_suite.registry import ModelSpec, ProfilerSpec, Registry, check_variant
from dnn_suite.settings import sweep_axes
from dnn_suite.settings.declared import USER_SETTINGS, RunConfig, nesting
from dnn_suite.value_types import Mapping, ValueType

SUITE_KEYS = ("defaults", "benchmarks")
#: a suite.yaml is a few screens of settings: far larger documents, counted with their aliases
#: expanded (a billion-laughs alias bomb is a few lines that expand exponentially), or nested far
#: deeper, are refused before anything walks them
MAX_NODES = 100_000
MAX_DEPTH = 64
# Keys a later layer's value clears: a window is N iterations or S seconds; one batch size or a sweep.
_REPLACES = {"duration": "iterations", "iterations": "duration", "batch_size": "batch_sizes"}


@dataclass
class SuiteFile:
    """A parsed suite.yaml: its defaults, its named entries and where each key sits."""

    path: Path
    defaults: dict[str, Any]
    benchmarks: dict[str, dict[str, Any]]
    lines: dict[tuple[str, ...], int]

    def where(self, *key_path: str) -> str:
        line = self.lines.get(tuple(key_path))
        location = f"{self.path}:{line}" if line else str(self.path)
        return f"{location}: {'.'.join(key_path)}"


def _line_numbers(node: yaml.Node, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Map each key path of a YAML document to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            lines[path] = key_node.start_mark.line + 1
            lines.update(_line_numbers(value_node, path))
    return lines


def _bounded_yaml(text: str, label: str) -> tuple[Any, yaml.Node | None]:
    """The document's value and its node graph, as ``yaml.safe_load`` builds them, refusing first a
    document whose aliases expand past :data:`MAX_NODES` nodes or that nests deeper than
    :data:`MAX_DEPTH` (``label`` names it in the error). YAML errors are left to the caller."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:  # the YAML parser itself recurses once per level
        raise UsageError(f"{label}: nested more than {MAX_DEPTH} levels deep; expected run settings") from None
    if node is None:
        return None, None
    _check_size(node, label)
    return yaml.SafeLoader("").construct_document(node), node


def _check_size(node: yaml.Node, label: str) -> None:
    """Aliases share their node, so each node's expanded size is counted once."""
    sizes: dict[int, int] = {}

    def size(current: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise UsageError(f"{label}: nested more than {MAX_DEPTH} levels deep; expected run settings")
        if id(current) not in sizes:
            children = ([n for pair in current.value for n in pair] if isinstance(current, yaml.MappingNode)
                        else current.value if isinstance(current, yaml.SequenceNode) else [])
            sizes[id(current)] = 1 + sum(size(child, depth + 1) for child in children)
        return sizes[id(current)]

    if size(node, 0) > MAX_NODES:
        raise UsageError(f"{label}: holds more than {MAX_NODES:,} values once its aliases are expanded; expected "
                         "run settings")


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a value can be a whole document)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load_suite(path: str | Path) -> SuiteFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a text file (byte {exc.start} is not UTF-8); expected a suite.yaml") from exc
    try:
        data, node = _bounded_yaml(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UsageError(f"{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from exc
    data = {} if data is None else data
    suite = SuiteFile(path, {}, {}, _line_numbers(node) if node else {})
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping with keys {', '.join(SUITE_KEYS)}")
    for key in data:
        if key not in SUITE_KEYS:
            raise UsageError(f"{suite.where(str(key))}: unknown key (allowed: {', '.join(SUITE_KEYS)})")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise UsageError(f"{suite.where('defaults')}: expected a mapping of run settings")
    suite.defaults = _check_layer(defaults, lambda *k: suite.where("defaults", *k), allow_model=False)
    benchmarks = data.get("benchmarks") or {}
    if not isinstance(benchmarks, dict):
        raise UsageError(f"{suite.where('benchmarks')}: expected a mapping of benchmark names to settings")
    for name, entry in benchmarks.items():
        if not isinstance(entry, dict) or ("model" not in entry and "model" not in (entry.get("sweep") or {})):
            raise UsageError(f"{suite.where('benchmarks', str(name))}: expected a mapping with at least 'model' "
                             "(or a sweep over model)")
        where = lambda *k, n=str(name): suite.where("benchmarks", n, *k)  # noqa: E731
        suite.benchmarks[str(name)] = _check_layer(entry, where, allow_model=True)
    return suite


def _check_layer(layer: dict[str, Any], where: Callable[..., str], *, allow_model: bool) -> dict[str, Any]:
    """Check a layer's keys and values against the settings; ``where(*key_path)`` names a place."""
    allowed = [name for name in USER_SETTINGS if allow_model or name != "model"]
    for key, value in layer.items():
        key = str(key)
        if key not in allowed:
            raise UsageError(f"{where(key)}: unknown key (allowed: {', '.join(allowed)})")
        _check_value(USER_SETTINGS[key].type, value, where, (key,))
        if key == "sweep":
            sweep_axes.check_axes(value, lambda axis: where("sweep", axis))
            if not allow_model and "model" in value:
                raise UsageError(f"{where('sweep', 'model')}: a sweep over models belongs in a benchmark entry")
    return dict(layer)


def _check_value(value_type: ValueType, value: Any, where: Callable[..., str], key_path: tuple[str, ...]) -> None:
    """A mapping's entries are checked one by one, so that an error names the entry (and its line)."""
    if isinstance(value_type, Mapping) and isinstance(value, dict) and value_type.values is not None:
        for name, entry in value.items():
            _check_value(value_type.values, entry, where, (*key_path, str(name)))
    elif not value_type.accepts(value):
        raise UsageError(f"{where(*key_path)}: expected {value_type.expected}, got {_short(value)}")


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings given by name (the Python API's keyword arguments), checked as ``--set`` checks
    them: a layer like a suite.yaml entry; an error names the setting (``batch_size: expected ...``)."""
    return _check_layer(settings, lambda *keys: ".".join(keys), allow_model=False)


def parse_set(pairs: list[str]) -> dict[str, Any]:
    """Turn ``--set`` pairs (``batch_size=4``, ``model_options.image_size=256``,
    ``profiler_options.nvml.interval_ms=50``) into a layer like a suite.yaml entry."""
    layer: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {pair!r}: expected KEY=VALUE")
        try:
            value = _bounded_yaml(raw, f"--set {key}")[0] if raw else ""
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        top = USER_SETTINGS.get(parts[0])
        if top is None or len(parts) != 1 + len(nesting(top.type)):
            plain = [name for name, s in USER_SETTINGS.items() if not nesting(s.type)]
            nested = [".".join([name, *nesting(s.type)]) for name, s in USER_SETTINGS.items() if nesting(s.type)]
            raise UsageError(f"--set {key}: unknown key (use one of {', '.join(plain)}, {' or '.join(nested)})")
        target = layer
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return _check_layer(layer, lambda *k: "--set " + ".".join(k), allow_model=False)


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    replaced = sweep_axes.replaced(layer)
    if merged.get("sweep") and replaced:  # a value given later wins over an earlier sweep of it
        merged["sweep"] = {key: values for key, values in merged["sweep"].items() if key not in replaced}
    for key, value in layer.items():
        if key == "sweep":
            merged[key] = {**(merged.get(key) or {}), **value}
            if "batch_size" in value:  # the sweep's first size stands for it where one is needed
                merged.update(batch_sizes=None, batch_size=value["batch_size"][0])
        elif key == "model_options":
            merged[key] = {**merged.get(key, {}), **value}
        elif key in ("profiler_options", "log_options"):
            options = {name: dict(opts) for name, opts in merged.get(key, {}).items()}
            for name, opts in value.items():
                options[name] = {**options.get(name, {}), **opts}
            merged[key] = options
        else:
            merged[key] = value
            if key in _REPLACES:
                merged[_REPLACES[key]] = None
            elif key == "batch_sizes":  # the sweep's first size stands for it where one is needed
                merged["batch_size"] = value[0]
    if not merged.get("sweep"):
        merged.pop("sweep", None)
    return merged


def with_point(flags: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The flags' layer with a sweep point's values (``{"model": ..., "model_options.amp": True}``)
    above it: given to :func:`resolve`, the point's configuration (its ``model`` the run's model)."""
    merged = _merge(flags, sweep_axes.point_layer(values))
    return {key: value for key, value in merged.items() if value is not None}  # what the point replaced


def resolve(
    target: str,
    registry: Registry,
    *,
    suite: SuiteFile | None = None,
    flags: dict[str, Any] | None = None,
    start: dict[str, Any] | None = None,
) -> RunConfig:
    """Build the run configuration for ``target`` (a model name, ``model-variant``, or the
    name of a benchmark entry in ``suite``) with ``flags`` (a layer, see :func:`parse_set`);
    ``start`` is a layer under all others but the model's defaults (a resumed run's settings); a
    ``model`` in ``flags`` is a sweep point's (:func:`with_point`)."""
    layer_flags = flags or {}
    entry: dict[str, Any] = {}
    benchmark = None
    if suite is not None and target in suite.benchmarks:
        benchmark, entry = target, suite.benchmarks[target]
        target = entry.get("model", target)
    swept = ((layer_flags.get("sweep") or {}).get("model") or (entry.get("sweep") or {}).get("model") or [target])
    target = layer_flags.get("model", swept[0])  # a point's model, else the sweep's first
    registered, variant_from_name = registry.model(target)
    spec = registered.spec
    assert isinstance(spec, ModelSpec)
    base = {
        "model": spec.name,
        "variant": variant_from_name or spec.default_variant,
        "dataset": spec.default_dataset,
        "batch_size": spec.default_batch_size,
    }
    merged = base
    layers: list[tuple[dict[str, Any], Callable[[str], str]]] = [
        (start or {}, lambda key: f"the resumed run's sweep.{key}"),
        (suite.defaults if suite else {}, lambda key: suite.where("defaults", "sweep", key) if suite else key),
        ({k: v for k, v in entry.items() if k != "model"},
         lambda key: suite.where("benchmarks", str(benchmark), "sweep", key) if suite else key),
        (layer_flags, lambda key: f"--sweep {key}")]
    declared_at: dict[str, str] = {}  # where each axis of the sweep was declared
    for layer, where in layers:
        merged = _merge(merged, layer)
        declared_at.update({key: where(key) for key in layer.get("sweep") or {}})
    merged["model"] = spec.name
    if variant_from_name and "variant" not in layer_flags:
        merged["variant"] = variant_from_name
    merged["variant"] = check_variant(spec, merged["variant"])
    if "allocator" in merged:  # an old policy name (suite.yaml, a resumed run's record) as its policy
        merged["allocator"] = allocator_policy(merged["allocator"])
    for key in ("dataset", "eval_dataset"):
        if merged.get(key) is not None and not spec.accepts_dataset(merged[key]):
            schemes = "".join(f", {scheme}..." for scheme in spec.dataset_schemes)
            raise UsageError(f"unknown dataset {merged[key]!r} for model {spec.name} "
                             f"(available: {', '.join(spec.datasets)}{schemes})")
    merged["model_options"] = resolve_options(f"model {spec.name}", spec.options, merged.get("model_options", {}))
    if merged.get("sweep"):
        sweep_axes.check_against_plugins(merged["sweep"], declared_at.__getitem__, spec, registry)
    merged["profilers"] = canonical_profilers(merged.get("profilers", []), registry)
    # A sweep runs profilers that cannot share a run in separate passes (dnn_suite.run.sweep).
    error = None if merged.get("batch_sizes") or merged.get("sweep") else combination_error(merged["profilers"],
                                                                                             registry)
    if error:
        raise UsageError(error)
    merged["profiler_options"] = {
        name: resolve_options(f"profiler {name}", registry.profiler(name).spec.options, opts)
        for name, opts in _canonical_profiler_options(merged.get("profiler_options", {}), registry).items()
    }
    for name in merged["profilers"]:
        merged["profiler_options"].setdefault(name, option_defaults(registry.profilers[name].spec.options))
    merged.update(_loggers(merged.get("log_to", []), merged.get("log_options", {}), registry))
    return RunConfig(**merged, benchmark=benchmark)


def _canonical_profiler_options(options: dict[str, dict[str, Any]], registry: Registry) -> dict[str, dict[str, Any]]:
    canonical: dict[str, dict[str, Any]] = {}
    for name, opts in options.items():
        real = registry.profiler(name).spec.name
        canonical[real] = {**canonical.get(real, {}), **opts}
    return canonical


def canonical_profilers(names: list[str], registry: Registry) -> list[str]:
    """Canonical names (aliases resolved), duplicates removed, in the order given."""
    chosen: list[str] = []
    for name in names:
        real = registry.profiler(name).spec.name
        if real not in chosen:
            chosen.append(real)
    return chosen


def combination_error(chosen: list[str], registry: Registry) -> str | None:
    """Why the profilers ``chosen`` (canonical names) cannot run together in one run, or None."""
    specs: list[ProfilerSpec] = [registry.profilers[n].spec for n in chosen]  # type: ignore[misc]
    launchers = [s.name for s in specs if s.launcher]
    if len(launchers) > 1:
        return (f"profilers {' and '.join(launchers)} cannot be combined: each re-runs the program under its own "
                "tool; run them one after the other, or in a sweep (--batch-size 8,16), which gives each its own pass")
    for spec in specs:
        for other, reason in spec.conflicts.items():
            if other in chosen:
                return f"profilers {spec.name} and {other} cannot be combined: {reason}"
    return None


def _loggers(names: list[str], options: dict[str, dict[str, Any]], registry: Registry) -> dict[str, Any]:
    """``log_to`` without repeats (an unknown logger refused) and ``log_options`` checked, each chosen
    logger's defaults filled in."""
    chosen = list(dict.fromkeys(registry.logger(name).spec.name for name in names))
    checked = {name: resolve_options(f"logger {name}", registry.logger(name).spec.options, opts)
               for name, opts in options.items()}
    for name in chosen:
        checked.setdefault(name, option_defaults(registry.loggers[name].spec.options))
    return {"log_to": chosen, "log_options": checked}
