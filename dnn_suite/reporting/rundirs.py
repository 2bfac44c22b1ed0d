"""Reading results back: a run directory (run.json, iterations.csv, profiler artefacts) and a
sweep (a folder of run directories, or one whose ``sweep.json`` lists them as
``{"runs": ["relative/dir", ...]}``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

import msgspec

from dnn_suite.run import runstate
from dnn_suite.errors import UsageError, reason
from dnn_suite.run.output_dir import SCHEMA_VERSION

RUN_FILE = "run.json"
SWEEP_FILE = "sweep.json"


@dataclass
class RunDir:
    path: Path
    document: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> dict[str, Any]:
        return self.document.get("config") or {}

    @property
    def metrics(self) -> dict[str, Any]:
        return self.document.get("metrics") or {}

    @property
    def status(self) -> str:
        """The recorded status, but ``crashed`` for a run still ``running`` whose process is gone."""
        return runstate.status(self.document)

    def status_text(self) -> str:
        """The status with its reason (the error, or why it shows as crashed or unverified)."""
        return runstate.describe(self.document)

    @property
    def profilers(self) -> dict[str, Any]:
        return self.document.get("profilers") or {}

    @cached_property
    def iterations(self) -> list[dict[str, float | None]]:
        """iterations.csv, numbers parsed (an empty cell is None); [] when the file is missing."""
        return read_csv_numbers(self.path / "iterations.csv")

    def artefact(self, profiler: str, name: str) -> Path | None:
        """``<run>/<profiler>/<name>`` when it exists."""
        path = self.path / profiler / name
        return path if path.is_file() else None

    def describe(self) -> str:
        """``model variant, bs N, device`` in a few words."""
        config = self.config
        return (f"{config.get('model')} {config.get('variant')}, bs {config.get('batch_size')}, "
                f"{self.document.get('device', config.get('device'))}")


class _Process(msgspec.Struct):
    pid: int
    host: str
    started: float


class _RunRecord(msgspec.Struct):
    """What the readers of run.json rely on, with its types (the rest is read as it comes)."""

    schema_version: int
    config: dict[str, Any]
    status: str = "?"
    error: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    process: Optional[_Process] = None
    metrics: Optional[dict[str, Any]] = None
    profilers: Optional[dict[str, Any]] = None


def is_run_dir(path: Path) -> bool:
    return (path / RUN_FILE).is_file()


def load_run(path: Path) -> RunDir:
    file = path / RUN_FILE
    if not file.is_file():
        raise UsageError(f"{path}: not a run directory (no {RUN_FILE})")
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{file}: unreadable run.json ({reason(exc)})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise UsageError(f"{file}: not a dnn-suite run.json (expected an object with a 'config' object)")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION and isinstance(version, int) and not isinstance(version, bool):
        raise UsageError(f"{file}: a run.json of schema version {version} (written by dnn-suite "
                         f"{document.get('dnn_suite_version', '?')}); this dnn-suite reads schema version "
                         f"{SCHEMA_VERSION}")
    try:
        msgspec.convert(document, _RunRecord)
    except msgspec.ValidationError as exc:
        raise UsageError(f"{file}: not a dnn-suite run.json of schema version {SCHEMA_VERSION} ({exc})") from None
    return RunDir(path, document)


def load_runs(path: Path) -> tuple[list[RunDir], bool]:
    """The runs at ``path`` and whether it is a sweep: a run directory, a folder whose
    ``sweep.json`` lists run directories, or a folder whose subdirectories are run directories."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such directory")
    if is_run_dir(path):
        return [load_run(path)], False
    sweep = path / SWEEP_FILE
    if sweep.is_file():
        return [load_run(path / relative) for relative in _sweep_entries(sweep)], True
    runs = sorted(child for child in path.iterdir() if child.is_dir() and is_run_dir(child))
    if not runs:
        raise UsageError(f"{path}: neither a run directory (no {RUN_FILE}) nor a sweep "
                         f"(no {SWEEP_FILE}, no subdirectory holding a {RUN_FILE})")
    return [load_run(run) for run in runs], True


def _sweep_entries(sweep: Path) -> list[str]:
    try:
        data = json.loads(sweep.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{sweep}: unreadable ({reason(exc)})") from exc
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not runs or not all(isinstance(r, str) for r in runs):
        raise UsageError(f'{sweep}: expected {{"runs": ["run directory relative to the sweep", ...]}}')
    return runs


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists of dicts as ``a.b.0.c`` keys; other lists stay values."""
    if isinstance(data, dict):
        items: Iterable[tuple[Any, Any]] = data.items()
    elif isinstance(data, list) and any(isinstance(v, dict) for v in data):
        items = enumerate(data)
    else:
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_differences(runs: list[RunDir]) -> list[str]:
    """Configuration keys (flattened) whose values differ between the runs, but for the output
    folder."""
    flats = [flatten(run.config) for run in runs]
    keys = dict.fromkeys(key for flat in flats for key in flat)
    return [key for key in keys if key != "output"
            and len({json.dumps(flat.get(key), sort_keys=True) for flat in flats}) > 1]


def read_csv_numbers(path: Path) -> list[dict[str, float | None]]:
    """A CSV with a header, every cell parsed as a float (None when empty or not a number)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def read_json(path: Path | None) -> Any:
    """A profiler's JSON artefact, or None when it is missing or unreadable."""
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
