"""A measured number with its unit: what profilers and analyzers hand to the results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    value: float | int | None
    unit: str
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"value": self.value, "unit": self.unit}
        if self.description:
            data["description"] = self.description
        return data


_BINARY_STEPS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")
_SECONDS_PER = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_TIME_STEPS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (0.0, "ns"))


def readable(value: float | int | None, unit: str) -> str:
    """``value unit`` for a person: bytes in KiB..PiB, durations in ns..s, 3 significant
    digits; other units as they are. The exact value stays in run.json."""
    if value is None:
        return f"n/a {unit}".strip()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{value} {unit}".strip()
    if unit in ("bytes", "byte", "B"):
        step = 0
        while abs(value) >= 1024 and step < len(_BINARY_STEPS) - 1:
            value, step = value / 1024, step + 1
        return f"{value:.0f} bytes" if step == 0 else f"{_number(value)} {_BINARY_STEPS[step]}"
    if unit in _SECONDS_PER:
        seconds = value * _SECONDS_PER[unit]
        if seconds == 0:
            return "0 s"
        scale, name = next((s, n) for s, n in _TIME_STEPS if abs(seconds) >= s)
        return f"{_number(seconds / (scale or 1e-9))} {name}"
    return f"{_number(value)} {unit}".strip()


def _number(value: float | int) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
