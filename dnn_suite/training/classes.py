"""How two class lists differ, for the messages that refuse a mismatch (a checkpoint, weights or an
evaluation set whose classes are not the dataset's)."""

from __future__ import annotations

from collections.abc import Sequence


def class_difference(first: Sequence[str], second: Sequence[str], first_as: str, second_as: str) -> str:
    """Which names one class list has and the other lacks (both ways, ``second``'s extras first), a few of each."""
    def few(names: list[str]) -> str:
        return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")

    only_second = [name for name in second if name not in first]
    only_first = [name for name in first if name not in second]
    parts = ([f"{second_as} has {few(only_second)}, not in {first_as}"] if only_second else []) + \
        ([f"{first_as} has {few(only_first)}, not in {second_as}"] if only_first else [])
    return "; ".join(parts) or "the same names in another order"
