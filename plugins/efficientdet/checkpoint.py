"""Checkpoints: written atomically, read with ``weights_only=True``, checked against the model."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dnn_suite.errors import UsageError, reason


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path}: no such file")
    state = load_tensors(path, f"checkpoint {path}: not a readable checkpoint")
    if not isinstance(state, dict) or "model" not in state:
        raise UsageError(f"checkpoint {path}: expected a dnn-suite EfficientDet checkpoint with a 'model' entry")
    return state


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
