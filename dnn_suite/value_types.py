"""What values a run setting or a plugin option takes, declared once.

A value type checks a value (from suite.yaml, ``--set``, a flag or run.json), says what it
expected in one line (``expected a positive integer, got 0``), parses a command-line flag's
text and writes itself as JSON Schema, so that the checks, the errors, the flags and the
published schemas cannot disagree. Run settings (:mod:`dnn_suite.settings.declared`) and plugin
options (:class:`dnn_suite.options.Option`) are both declared with them.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ValueType(ABC):
    """One kind of value; ``expected`` is how errors name it (after "expected ")."""

    expected: str

    @abstractmethod
    def accepts(self, value: Any) -> bool:
        """Whether ``value`` (as YAML or JSON reads it) is one of these values."""

    @abstractmethod
    def schema(self) -> dict[str, Any]:
        """The JSON Schema of these values."""

    def convert(self, value: Any) -> Any:
        """The value as the run records it (a number's integer as a float); checked afterwards."""
        return value

    def parse(self, text: str) -> Any:
        """A command-line flag's text as a value, checked afterwards; a ValueError says what the
        text should have been (``an integer``)."""
        return text


def _described(value_type: Any, text: str) -> None:
    """Set a frozen value type's ``expected`` where the declaration gave none."""
    if not value_type.expected:
        object.__setattr__(value_type, "expected", text)


def _bounded(noun: str, bounds: list[tuple[str, float | None]]) -> str:
    """``an integer >= 0``, ``a number >= 0 and < 1``: the noun and each bound that is set."""
    conditions = [f"{sign} {bound}" for sign, bound in bounds if bound is not None]
    return " ".join([noun, " and ".join(conditions)]) if conditions else noun


def _bounds(minimum: float | None, maximum: float | None) -> dict[str, Any]:
    return {k: v for k, v in (("minimum", minimum), ("maximum", maximum)) if v is not None}


@dataclass(frozen=True)
class Integer(ValueType):
    minimum: int | None = None
    maximum: int | None = None
    expected: str = ""

    def __post_init__(self) -> None:
        positive = self.minimum == 1 and self.maximum is None
        _described(self, "a positive integer" if positive else
                   _bounded("an integer", [(">=", self.minimum), ("<=", self.maximum)]))

    def accepts(self, value: Any) -> bool:
        return (_whole(value) and (self.minimum is None or value >= self.minimum)
                and (self.maximum is None or value <= self.maximum))

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", **_bounds(self.minimum, self.maximum)}

    def parse(self, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("an integer") from None


@dataclass(frozen=True)
class Number(ValueType):
    """A real number; ``above`` and ``below`` are exclusive bounds, ``minimum`` and ``maximum`` inclusive."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    expected: str = ""

    def __post_init__(self) -> None:
        bounds = [(">=", self.minimum), (">", self.above), ("<", self.below), ("<=", self.maximum)]
        positive = [b for b in bounds if b[1] is not None] == [(">", 0)]
        _described(self, "a positive number" if positive else _bounded("a number", bounds))

    def accepts(self, value: Any) -> bool:
        return (_real(value) and (self.minimum is None or value >= self.minimum)
                and (self.maximum is None or value <= self.maximum)
                and (self.above is None or value > self.above) and (self.below is None or value < self.below))

    def convert(self, value: Any) -> Any:
        return float(value) if _real(value) else value

    def schema(self) -> dict[str, Any]:
        exclusive = {k: v for k, v in (("exclusiveMinimum", self.above), ("exclusiveMaximum", self.below))
                     if v is not None}
        return {"type": "number", **_bounds(self.minimum, self.maximum), **exclusive}

    def parse(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("a number") from None


@dataclass(frozen=True)
class Text(ValueType):
    """A string: one of ``choices`` if given (or of ``aliases``: old names still accepted, never offered),
    else matching ``pattern`` if given, at least ``min_length`` long."""

    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    pattern: str = ""
    min_length: int = 0
    expected: str = ""

    def __post_init__(self) -> None:
        _described(self, f"one of {', '.join(self.choices)}" if self.choices else "a string")

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, str) or len(value) < self.min_length:
            return False
        if self.choices:
            return value in self.choices or value in self.aliases
        return not self.pattern or re.fullmatch(self.pattern, value) is not None

    def schema(self) -> dict[str, Any]:
        if self.choices:
            return {"type": "string", "enum": [*self.choices, *self.aliases]}
        pattern = {"pattern": f"^(?:{self.pattern})$"} if self.pattern else {}
        length = {"minLength": self.min_length} if self.min_length else {}
        return {"type": "string", **pattern, **length}


@dataclass(frozen=True)
class Boolean(ValueType):
    expected: str = "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class ListOf(ValueType):
    """A list (YAML sequence) of ``item`` values (any values without one), at least ``min_items`` long."""

    item: ValueType | None = None
    min_items: int = 0
    expected: str = ""

    def __post_init__(self) -> None:
        _described(self, "a list" + (f" of {self.item.expected}" if self.item else ""))

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, (list, tuple)) and len(value) >= self.min_items
                and (self.item is None or all(self.item.accepts(v) for v in value)))

    def schema(self) -> dict[str, Any]:
        return {"type": "array", **({"items": self.item.schema()} if self.item else {}),
                **({"minItems": self.min_items} if self.min_items else {})}


@dataclass(frozen=True)
class Mapping(ValueType):
    """A mapping of names (``key`` says what they name, e.g. ``PROFILER``) to ``values`` (any values without it)."""

    values: ValueType | None = None
    key: str = "NAME"
    expected: str = "a mapping"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict) and (self.values is None or all(self.values.accepts(v) for v in value.values()))

    def schema(self) -> dict[str, Any]:
        return {"type": "object", **({"additionalProperties": self.values.schema()} if self.values else {})}


@dataclass(frozen=True)
class Nullable(ValueType):
    """``value`` or null (YAML ``~``/``null``): null standing for "chosen by the suite"."""

    value: ValueType
    expected: str = ""

    def __post_init__(self) -> None:
        _described(self, f"{self.value.expected} or null")

    def accepts(self, value: Any) -> bool:
        return value is None or self.value.accepts(value)

    def convert(self, value: Any) -> Any:
        return value if value is None else self.value.convert(value)

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [self.value.schema(), {"type": "null"}]}

    def parse(self, text: str) -> Any:
        return self.value.parse(text)


@dataclass(frozen=True)
class OneOf(ValueType):
    """A value of any of ``types`` (the first that accepts it converts it)."""

    types: tuple[ValueType, ...]
    expected: str = ""

    def __post_init__(self) -> None:
        _described(self, " or ".join(t.expected for t in self.types))

    def accepts(self, value: Any) -> bool:
        return any(t.accepts(value) for t in self.types)

    def convert(self, value: Any) -> Any:
        return next((t.convert(value) for t in self.types if t.accepts(t.convert(value))), value)

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [t.schema() for t in self.types]}


@dataclass(frozen=True)
class Satisfying(ValueType):
    """A ``value`` that also meets ``condition``, one JSON Schema cannot state (its schema is ``value``'s)."""

    value: ValueType
    condition: Callable[[Any], bool] = field(compare=False)
    expected: str = ""

    def __post_init__(self) -> None:
        _described(self, self.value.expected)

    def accepts(self, value: Any) -> bool:
        return self.value.accepts(value) and self.condition(value)

    def convert(self, value: Any) -> Any:
        return self.value.convert(value)

    def schema(self) -> dict[str, Any]:
        return self.value.schema()

    def parse(self, text: str) -> Any:
        return self.value.parse(text)


def of_default(default: Any) -> ValueType:
    """The value type of an option declared by its default alone: values of the default's type,
    named by the type in errors (``expected float``)."""
    if isinstance(default, bool):
        return Boolean(expected="bool")
    if isinstance(default, int):
        return Integer(expected="int")
    if isinstance(default, float):
        return Number(expected="float")
    if isinstance(default, str):
        return Text(expected="str")
    if isinstance(default, (list, tuple)):
        return ListOf(expected="list")
    raise ValueError(f"no value type for a default of {default!r}: declare the option's type")
