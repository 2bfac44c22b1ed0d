"""Plugin options: one typed declaration per option of a model or profiler.

A plugin lists its options in ``ModelSpec.options`` or ``ProfilerSpec.options``::

    Option("interval_ms", 100, "sampling interval in milliseconds", Integer(minimum=1))
    Option("metrics", "core", "core or extra metrics", Text(choices=("core", "extra")))
    Option("image_size", 512, "input size in pixels", Integer(minimum=32), flag=True)

Users set them in suite.yaml (``model_options``, ``profiler_options.PROFILER``), with ``--set
model_options.KEY=VALUE`` / ``profiler_options.PROFILER.KEY=VALUE`` and, for a model option
declared with ``flag=True``, a flag (``image_size`` becomes ``--image-size``). The core checks
every value against its option before anything runs (one-line error naming the option and
what it expected, exit code 2), so a plugin reads ``run.options`` / ``run.profiler_options(NAME)``
without checking them again. An option declared by its default alone takes values of the
default's type (an integer is accepted for a float).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from dnn_suite.errors import UsageError
from dnn_suite.value_types import ValueType, of_default


@dataclass(frozen=True)
class Option:
    """One option: its name, default, help and the values it takes (``type``; by default those
    of the default's type); ``flag``: a model option that also gets a command-line flag;
    ``trained``: a property of the trained model (its input size, classes, precision, memory
    format), which a run of a checkpoint takes from the checkpoint unless given
    (:mod:`dnn_suite.run.checkpoint_settings`)."""

    name: str
    default: Any
    help: str
    type: ValueType | None = None
    flag: bool = False
    trained: bool = False

    def __post_init__(self) -> None:
        if self.type is None:
            object.__setattr__(self, "type", of_default(self.default))
        if not self.value_type.accepts(self.default):
            raise ValueError(f"option {self.name!r}: its default {self.default!r} is not "
                             f"{self.value_type.expected}")

    @property
    def value_type(self) -> ValueType:
        assert self.type is not None  # set in __post_init__
        return self.type

    @property
    def flag_name(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, owner: str, value: Any) -> Any:
        """``value`` as the run records it, or a UsageError naming ``owner`` (``profiler nvml``) and the option."""
        value = self.value_type.convert(value)
        if not self.value_type.accepts(value):
            raise UsageError(f"{owner} option {self.name!r}: expected {self.value_type.expected}, got {value!r}")
        return value


def check_declarations(owner: str, options: Iterable[Option]) -> None:
    """A plugin's options are Option objects with distinct names (ValueError otherwise: the plugin is broken)."""
    seen: set[str] = set()
    for option in options:
        if not isinstance(option, Option):
            raise ValueError(f"{owner}: options must be dnn_suite.options.Option declarations, got {option!r}")
        if option.name in seen:
            raise ValueError(f"{owner}: option {option.name!r} is declared twice")
        seen.add(option.name)


def defaults(options: Iterable[Option]) -> dict[str, Any]:
    return {option.name: option.default for option in options}


def resolve_options(owner: str, options: Iterable[Option], given: dict[str, Any]) -> dict[str, Any]:
    """Every option's value: the given one, checked, else its default."""
    declared = {option.name: option for option in options}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise UsageError(f"{owner}: unknown option {unknown[0]!r} (allowed: {allowed})")
    return {name: option.check(owner, given[name]) if name in given else option.default
            for name, option in declared.items()}
