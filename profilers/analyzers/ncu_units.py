"""Units and numbers as Nsight Compute prints them, brought to canonical units.

ncu scales values for display and has spelled units two ways over its versions: long
(``nsecond``, ``usecond``, ``Kbyte``, ``Gbyte/second``, ``Mcycle``, ``Ghz``) and short (``ns``,
``us``, ``KB``, ``GB/s``, ``MHz``). A unit is ``[prefix]base`` or ``[prefix]base/[prefix]base``;
values are converted to the base unit without prefix (durations to nanoseconds, rates to per
second). A unit outside this grammar is refused, never guessed: reading ``1.5`` in an unknown
unit as something else is how kernel times came out wrong by factors of 10^3 to 10^9.

Numbers: ncu formats them in the process's locale. English (``10,240,000``, ``1.5``) is the
default; a non-English locale writes ``27.595.520`` and ``1,5``. :func:`number_style` decides
from all the values of a log which one it is, and refuses a log that shows both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_DECIMAL_PREFIXES = {"": 1.0, "K": 1e3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
                     "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12}
_BINARY_PREFIXES = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
_TIME_BASES = {"second": "second", "s": "second"}
_BASES = {
    **_TIME_BASES,
    "byte": "byte", "B": "byte",
    "cycle": "cycle",
    "hz": "hz", "Hz": "hz",
    # counted things (ncu scales them too: Kinst, Mwarp)
    **{name: name for name in ("inst", "warp", "thread", "block", "sector", "request", "register", "SM",
                               "wavefront", "transaction", "pixel", "sample", "texel", "bank", "lane")},
}
_PART = re.compile(r"(Ki|Mi|Gi|Ti|[KkMGTPmuµnp]?)(" + "|".join(sorted(_BASES, key=len, reverse=True)) + r")")
DIMENSIONLESS = {"", "%"}
NS_PER_SECOND = 1e9


class UnknownUnit(ValueError):
    """A unit ncu is not known to write."""


def canonical(unit: str) -> tuple[str, float]:
    """(canonical unit, factor to multiply a value by): ``"usecond"`` -> ``("ns", 1000.0)``."""
    unit = unit.strip()
    if unit in DIMENSIONLESS:
        return unit, 1.0
    numerator, slash, denominator = unit.partition("/")
    base, factor = _part(numerator, unit)
    if not slash:
        if base == "second":
            return "ns", factor * NS_PER_SECOND
        return base, factor
    per, per_factor = _part(denominator, unit)
    return f"{base}/{per}", factor / per_factor


def _part(text: str, unit: str) -> tuple[str, float]:
    match = _PART.fullmatch(text)
    if match is None:
        raise UnknownUnit(unit)
    prefix, base = match.groups()
    if prefix in _BINARY_PREFIXES and _BASES[base] != "byte":
        raise UnknownUnit(unit)
    return _BASES[base], _BINARY_PREFIXES.get(prefix) or _DECIMAL_PREFIXES[prefix]


# A thousands group of exactly three digits, then a decimal part of any length.
_ENGLISH = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?|[-+]?\d*\.\d+|[-+]?\d+\.?")
_OTHER = re.compile(r"[-+]?\d{1,3}(\.\d{3})+(,\d*)?|[-+]?\d*,\d+|[-+]?\d+,?")
_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
ENGLISH, NON_ENGLISH = "english", "non-english"


def number_style(texts: Iterable[str]) -> str:
    """Which locale wrote these numbers: :data:`ENGLISH` unless some value can only be read
    the other way (``27.595.520``, ``1,5``, ``1.234,5``). Raises ValueError, saying why, when
    the values contradict each other."""
    english_only = other_only = None
    for text in texts:
        text = text.strip()
        english, other = bool(_ENGLISH.fullmatch(text)), bool(_OTHER.fullmatch(text))
        if english and not other:
            english_only = english_only or text
        elif other and not english:
            other_only = other_only or text
    if other_only is None:
        return ENGLISH
    if english_only is not None:
        raise ValueError(f"numbers in two locales ({english_only!r} reads only as English, "
                         f"{other_only!r} only as a non-English locale)")
    return NON_ENGLISH


def parse_number(text: str, style: str = ENGLISH) -> float | None:
    """A number in ``style``; None for a missing value (``n/a``, empty) or non-numeric text."""
    text = text.strip()
    if style == NON_ENGLISH and _OTHER.fullmatch(text):
        text = text.replace(".", "").replace(",", ".")
    elif _ENGLISH.fullmatch(text):
        text = text.replace(",", "")
    elif not _EXPONENT.fullmatch(text):
        return None
    return float(text)
