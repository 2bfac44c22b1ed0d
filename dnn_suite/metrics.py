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
