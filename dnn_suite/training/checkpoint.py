"""Checkpoint files: written atomically, read with ``weights_only=True``, checked against the model.

A run directory keeps its checkpoints in ``checkpoints/``: ``step_<N>.pt`` and ``last.pt``,
the latest of them.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dnn_suite.errors import UsageError, reason

CHECKPOINT_DIR = "checkpoints"
LAST = "last.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def link_last(path: Path) -> Path:
    """Point ``last.pt`` at the checkpoint ``path`` (a hard link, or a copy where links fail), atomically."""
    last = path.with_name(LAST)
    tmp = path.with_name(f".{LAST}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, last)
    finally:
        tmp.unlink(missing_ok=True)
    return last


#: a training checkpoint's record of its run: model, variant and model options (``dnn-suite eval`` adopts them)
RUN_SETTINGS = "run_settings"


def load_tensors(path: Path, refused: str) -> Any:
    """``torch.load(path, weights_only=True)``; a file it refuses is a :class:`UsageError`,
    ``refused`` followed by why in our words (torch's own message suggests turning
    ``weights_only`` off, which would let the file run code)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise UsageError(f"{refused} ({reason(exc)})") from None
    except Exception:  # unpickling, zip and weights-only refusals all mean "not a plain tensor file"
        if zipfile.is_zipfile(path):
            why = "it holds objects other than tensors and plain containers, refused as loading them could run code"
        else:
            why = "not a file written by torch.save, or damaged"
        raise UsageError(f"{refused} ({why})") from None


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], source: Path | str) -> None:
    """Load ``state`` into ``model``, listing every missing, unexpected or misshapen key."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshapen = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or misshapen:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                parts.append(f"{len(keys)} {label} keys ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})")
        if misshapen:
            k = misshapen[0]
            parts.append(f"{len(misshapen)} keys of another shape ({k}: checkpoint {tuple(state[k].shape)}, "
                         f"model {tuple(own[k].shape)}{', ...' if len(misshapen) > 1 else ''})")
        raise UsageError(f"checkpoint {source} does not fit the model: {'; '.join(parts)}")
    model.load_state_dict(state)


def read_checkpoint(path: str | Path, kind: str) -> dict[str, Any]:
    """A checkpoint file: a dict with a ``model`` entry; ``kind`` names what was expected (in errors)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path}: no such file")
    state = load_tensors(path, f"checkpoint {path}: not a readable checkpoint")
    if not isinstance(state, dict) or "model" not in state:
        raise UsageError(f"checkpoint {path}: expected {kind} with a 'model' entry")
    return state


def check_resumable(source: Path, state: dict[str, Any], config: dict[str, Any], checkpoint_format: str,
                    *, older_defaults: dict[str, Any] | None = None) -> None:
    """A UsageError unless ``state`` is a training checkpoint of ``checkpoint_format`` written with
    the settings ``config`` (what a resumed run must share with it), naming every difference.
    ``older_defaults``: the values of settings that checkpoints of older versions do not record."""
    if state.get("format") != checkpoint_format or "step" not in state:
        raise UsageError(f"--resume {source}: not a `dnn-suite train` checkpoint of this model (no training state; "
                         "`dnn-suite eval --checkpoint` reads model-only files)")
    saved = {**(older_defaults or {}), **(state.get("config") or {})}
    differences = [f"{key} {saved.get(key)!r} (this run: {value!r})" for key, value in config.items()
                   if saved.get(key) != value and key != "class_names"]
    if "class_names" in config and saved.get("class_names") != config["class_names"]:
        differences.append(f"classes {', '.join(saved.get('class_names') or [])} "
                           f"(this run: {', '.join(config['class_names'])})")
    if differences:
        raise UsageError(f"--resume {source}: the checkpoint was written with other settings: "
                         + "; ".join(differences) + "; resume with the same flags")


def resolve_resume(path: str | Path) -> Path:
    """``--resume`` may name a checkpoint file, a run directory or its ``checkpoints`` folder."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / CHECKPOINT_DIR / LAST, path / LAST):
            if candidate.is_file():
                return candidate
        raise UsageError(f"--resume {path}: no {CHECKPOINT_DIR}/{LAST} in this directory")
    if not path.is_file():
        raise UsageError(f"--resume {path}: no such checkpoint file")
    return path
