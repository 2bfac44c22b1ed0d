"""``dnn-suite train MODEL --resume PATH``: a run continues with its own settings.

The settings come from the run's record, ``train.json`` in the run directory that holds the
checkpoint (written when the run starts and again when it ends, however it ends). On the
command line only what may change on resume is accepted: the length (``--epochs``,
``--steps``), ``--checkpoint-every``, ``--eval-every``, ``--log-every`` (the task's own flags),
``--workers`` and ``--allocator``; any other setting that differs from the run's is refused, naming each
difference. The run continues in its own directory (its checkpoints and record are there), so
``--output`` is refused too rather than ignored. A checkpoint without its run's
record (a copied file) takes the settings from the command line; the model plugin then refuses
a checkpoint written with other settings.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from dnn_suite.settings.resolve import RunConfig, SuiteFile, resolve
from dnn_suite.errors import UsageError
from dnn_suite.registry import Registry
from dnn_suite.reporting.rundirs import flatten

RECORD = "train.json"
CHECKPOINTS = "checkpoints"
#: settings (RunConfig keys) that a resumed run may change; ``output`` is unused (a suite file's is no
#: difference), the ``--output`` flag refused
RESUMABLE = ("workers", "allocator", "output", "executor", "slurm")
#: names, not settings: never a difference
_IGNORED = ("benchmark", "batch_sizes")
_MAY_CHANGE = "--epochs or --steps, --checkpoint-every, --eval-every, --log-every, --workers and --allocator"


def run_dir(resume: str | Path) -> Path:
    """The run directory of ``--resume``: a checkpoint file, a run directory or its checkpoints folder."""
    path = Path(resume)
    if not path.exists():
        raise UsageError(f"--resume {resume}: no such checkpoint file or directory")
    folder = path if path.is_dir() else path.parent
    return folder.parent if folder.name == CHECKPOINTS else folder


def saved_settings(folder: Path) -> dict[str, Any] | None:
    """The configuration recorded in ``folder/train.json``; None when there is no readable record."""
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = record.get("config") if isinstance(record, dict) else None
    return config if isinstance(config, dict) else None


def _layer(saved: dict[str, Any]) -> dict[str, Any]:
    """The recorded settings as a configuration layer (RunConfig keys that have a value)."""
    keys = {f.name for f in dataclasses.fields(RunConfig)} - {"model", *_IGNORED}
    return {key: value for key, value in saved.items() if key in keys and value is not None}


def differences(saved: dict[str, Any], config: RunConfig) -> list[str]:
    """``key recorded (this run: value)`` for each setting that is not the run's but may not change."""
    recorded, given = flatten(saved), flatten(config.to_json())
    return [f"{key} {recorded.get(key)!r} (this run: {value!r})" for key, value in given.items()
            if key.split(".")[0] not in (*RESUMABLE, *_IGNORED) and recorded.get(key) != value]


def resume_config(resume: str, target: str, registry: Registry, *, suite: SuiteFile | None,
                  flags: dict[str, Any]) -> RunConfig:
    """The configuration of the resumed run: the run's own settings, then what the command line may change."""
    folder = run_dir(resume)
    if "output" in flags:
        raise UsageError(f"--output {flags['output']}: a resumed run continues in its own directory {folder}; "
                         "leave out --output")
    saved = saved_settings(folder)
    config = resolve(target, registry, suite=suite, flags=flags, start=_layer(saved) if saved else None)
    if saved is not None:
        differing = differences(saved, config)
        if differing:
            raise UsageError(f"--resume {resume}: these settings differ from the run's and cannot change on "
                             f"resume: {'; '.join(differing)}; only {_MAY_CHANGE} can (leave the others out "
                             "to keep the run's own)")
    return config
