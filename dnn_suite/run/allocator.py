"""glibc malloc's policy for freed memory: keep it for reuse (``kept``) or, as glibc itself does, return
large freed blocks to the system (``returned``).

Why. By default glibc serves every allocation above its mmap threshold (dynamic: from 128 KiB,
raised as large blocks are freed, up to 32 MiB on 64-bit) with a fresh ``mmap`` and gives it back
with ``munmap`` on ``free``. A training step allocates and frees its large activations and
gradients anew at every iteration, so each of them page-faults its memory in again at every
step (what that costs a CPU training step is measured in the docs' performance pages). ``kept``
raises the mmap threshold to 1 GiB and the trim threshold to 2 GiB - 1, so freed blocks stay in
the heap and are reused; the process's resident memory then stays near its peak instead of
shrinking between steps. (Intel's ``torch.backends.xeon.run_cpu`` launcher swaps in tcmalloc or
jemalloc for the same reason; glibc's own settings need nothing installed.)

How. In this process through ``mallopt``; for child processes (a launcher profiler's program,
DataLoader workers, torchrun workers, sweep points) through the variables glibc reads at start,
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` (documented with ``mallopt`` in the
glibc manual), set to the values this process's glibc accepted (a forked child inherits mallopt's
setting itself). A threshold the user set, by one of those variables or in ``GLIBC_TUNABLES``
(``glibc.malloc.mmap_threshold``, ``glibc.malloc.trim_threshold``), is left as it is. Older glibc
refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit): the largest power-of-two
value it accepts is used. With another C library or off Linux nothing is changed, and the
record's ``note`` says so.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from typing import Any

KEPT, RETURNED = "kept", "returned"
POLICIES = (KEPT, RETURNED)
#: ``returned``'s first name, still accepted: suite.yaml files and the records of runs to resume may say it
OLD_NAMES = {"default": RETURNED}
#: glibc's own initial mmap threshold; no smaller value is tried
_SMALLEST = 128 * 1024


@dataclass(frozen=True)
class _Threshold:
    name: str
    """the key in the record"""
    param: int
    """mallopt's parameter number (malloc.h)"""
    kept: int
    """the value ``kept`` asks for"""
    variable: str
    """the environment variable glibc reads at start"""
    tunable: str
    """its name in ``GLIBC_TUNABLES``"""


THRESHOLDS = (
    _Threshold("mmap_threshold", -3, 1 << 30, "MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
    _Threshold("trim_threshold", -1, 2**31 - 1, "MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold"),
)

_policy: str | None = None
_set_here: dict[str, int] = {}  # what mallopt set in this process (it stays for the process's life)
_note: str | None = None


def _glibc_version() -> str | None:
    """``glibc 2.41``; None off Linux or with another C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        return None
    return text if text and text.startswith("glibc ") else None


def _libc() -> str:
    return _glibc_version() or f"not glibc ({sys.platform})"


def _user_setting(threshold: _Threshold) -> tuple[int | str, str] | None:
    """(value, where it was set) when the environment sets ``threshold``, else None."""
    tunables = dict(item.partition("=")[::2] for item in os.environ.get("GLIBC_TUNABLES", "").split(":") if item)
    for text, source in ((tunables.get(threshold.tunable), "GLIBC_TUNABLES"),
                         (os.environ.get(threshold.variable), threshold.variable)):
        if text is not None:
            return (int(text) if text.isdigit() else text), source
    return None


def _largest_accepted(libc: ctypes.CDLL, threshold: _Threshold) -> int | None:
    """Set ``threshold`` through mallopt to its ``kept`` value, halved until glibc accepts it."""
    value = threshold.kept
    while value >= _SMALLEST:
        if libc.mallopt(threshold.param, value) == 1:
            return value
        value //= 2
    return None


def policy_named(name: Any) -> Any:
    """The policy ``name`` stands for: itself, or the policy of an old name (anything else is returned
    as it is, for the caller's check to refuse)."""
    return OLD_NAMES.get(name, name) if isinstance(name, str) else name


def apply(policy: str) -> dict[str, Any]:
    """Put ``policy`` (``kept`` or ``returned``) in force for this process and, through the environment,
    for the processes it starts; returns :func:`in_force`. ``returned`` changes nothing. A setting made
    earlier in this process stays: glibc cannot return to its dynamic threshold."""
    global _policy, _note
    _policy, _note = policy_named(policy), None
    if policy != KEPT:
        return in_force()
    if _glibc_version() is None:
        _note = f"{_libc()}: its allocator is left as it is"
        return in_force()
    libc = ctypes.CDLL(None)  # the process's own C library
    for threshold in THRESHOLDS:
        if _user_setting(threshold) is not None:  # the user's, or set here already (the variable)
            continue
        value = _largest_accepted(libc, threshold)
        if value is not None:
            _set_here[threshold.name] = value
            os.environ[threshold.variable] = str(value)
    return in_force()


def in_force() -> dict[str, Any]:
    """What run.json records: the policy asked for (None: none asked for in this process), the C
    library, and each threshold with who set it (``dnn-suite``, the environment variable that set
    it, or ``glibc default`` with value None: glibc's dynamic threshold)."""
    record: dict[str, Any] = {"policy": _policy, "libc": _libc()}
    for threshold in THRESHOLDS:
        user = _user_setting(threshold)
        if threshold.name in _set_here:
            value, source = _set_here[threshold.name], "dnn-suite"
        elif user is not None:
            value, source = user
        else:
            value, source = None, "glibc default"
        record[threshold.name] = value
        record[f"{threshold.name}_set_by"] = source
    record["note"] = _note
    return record
