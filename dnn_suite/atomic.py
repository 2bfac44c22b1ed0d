"""Files written atomically, and the JSON text written in them.

Nothing written before is ever lost or seen half-written: every file is written to a temporary
name in the same folder, flushed, then renamed over its final name. JSON has no NaN or
infinity: :func:`to_json_text` stores them as null.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json_text(data: Any) -> str:
    """``data`` as indented JSON text; paths, numpy numbers and objects with ``to_json()`` serialised."""
    return json.dumps(_finite(json.loads(json.dumps(data, default=_json_default))), indent=2) + "\n"


def write_json_atomic(path: Path, data: Any) -> None:
    """:func:`to_json_text` of ``data``, written atomically."""
    write_atomic(path, to_json_text(data))


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV file of ``header`` and ``rows``, written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())
