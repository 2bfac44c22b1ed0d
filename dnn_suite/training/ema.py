"""An exponential moving average of the weights (and buffers), evaluated instead of the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .checkpoint import load_model_state


def weight_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """The EMA of ``model``'s weights with ``decay`` per step; None when ``decay`` is 0."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def ema_state(ema: AveragedModel | None) -> dict[str, Any]:
    """The checkpoint entries of the EMA (None without one)."""
    return {"ema": ema.module.state_dict() if ema is not None else None,
            "ema_n_averaged": ema.n_averaged.detach().cpu() if ema is not None else None}


def load_ema(ema: AveragedModel, state: dict[str, Any], source: Path | str) -> bool:
    """Restore the EMA from a checkpoint's entries; False when the checkpoint has none."""
    if state.get("ema") is None:
        return False
    load_model_state(ema.module, state["ema"], source)
    ema.n_averaged.copy_(state["ema_n_averaged"])
    return True
