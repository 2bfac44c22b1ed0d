"""How two class lists differ, for the messages that refuse a mismatch (a checkpoint, weights or an
evaluation set whose classes are not the dataset's)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence


def class_difference(first: Sequence[str], second: Sequence[str], first_as: str, second_as: str,
                     order_setting: str | None = None) -> str:
    """Which names one class list has and the other lacks (both ways, ``second``'s extras first), a few of each.
    Where only the order differs and ``order_setting`` (a ``--set`` key) orders ``second``, how to give it
    ``first``'s order."""
    def few(names: list[str]) -> str:
        return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")

    only_second = [name for name in second if name not in first]
    only_first = [name for name in first if name not in second]
    parts = ([f"{second_as} has {few(only_second)}, not in {first_as}"] if only_second else []) + \
        ([f"{first_as} has {few(only_first)}, not in {second_as}"] if only_first else [])
    if parts:
        return "; ".join(parts)
    if order_setting is None:
        return "the same names in another order"
    return f"the same names in another order; read them in {first_as}'s order: " \
           f"--set {shlex.quote(f'{order_setting}={_listed(first)}')}"


def _listed(names: Sequence[str]) -> str:
    """The names as a ``--set`` value: comma-separated, or a YAML list where a name has a comma."""
    plain = all("," not in name and name == name.strip() for name in names)
    return ",".join(names) if plain else json.dumps(list(names))
