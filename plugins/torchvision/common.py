"""What every torchvision model family of the plugin shares: the training options (optimizer,
learning rate, mixed precision, channels-last, weights, the `train` schedule), the optimizer, and
weights read from a local file or the torch hub cache -- never downloaded.

A family module puts :data:`OPTIONS` into its models' ``ModelSpec.options``, then builds through :func:`build_optimizer`, :func:`precision`,
:func:`memory_format` and :func:`load_weights`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import Tensor, nn

from dnn_suite.context import RunContext
from dnn_suite.errors import UsageError
from dnn_suite.options import Option
from dnn_suite.precision import AMP_DTYPES, MixedPrecision, memory_format as _memory_format
from dnn_suite.training.checkpoint import load_tensors
from dnn_suite.value_types import Nullable, Number, Text

OPTIMIZERS = ("sgd", "adamw")
#: the learning rate when option ``lr`` is 0: SGD's per 256 images (scaled with the batch size), AdamW's
DEFAULT_LR = {"sgd": 0.1, "adamw": 1e-3}
HUB = "hub"

#: the training options every family shares; those with a flag have it in every family
OPTIONS = (
    Option("optimizer", "sgd", "sgd (with momentum) or adamw", Text(choices=OPTIMIZERS), flag=True),
    Option("lr", 0.0, "learning rate (0: SGD 0.1 per 256 images, scaled with the batch size; AdamW 1e-3)",
           Number(minimum=0), flag=True),
    Option("momentum", 0.9, "SGD momentum"),
    Option("weight_decay", 1e-4, "weight decay (decoupled for AdamW)", Number(minimum=0)),
    Option("amp", False, "mixed precision: bf16 autocast on CPU, fp16 + GradScaler on CUDA (see amp_dtype)",
           flag=True, trained=True),
    Option("amp_dtype", "auto", "autocast dtype of --amp: auto, float16 or bfloat16", Text(choices=AMP_DTYPES),
           flag=True, trained=True),
    Option("channels_last", True, "channels-last memory format for images and weights", flag=True, trained=True),
    Option("weights", None, "start from these weights: a state-dict file, or 'hub' / 'hub:NAME' (e.g. "
           "hub:IMAGENET1K_V2) from the torch hub cache; never downloaded (default: random initialisation)",
           Nullable(Text()), flag=True),
    Option("warmup_epochs", 1.0, "learning-rate warmup length in epochs, then cosine decay to 0 (`train`)",
           Number(minimum=0)),
    Option("ema_decay", 0.0, "EMA of the weights during `dnn-suite train`, evaluated and saved too (0: none)",
           Number(minimum=0, below=1, expected="0 (no EMA) or a decay below 1")),
)
_WRAPPERS = ("model_ema", "model", "state_dict")


def memory_format(run: RunContext) -> torch.memory_format:
    return _memory_format(run.options["channels_last"])


def precision(run: RunContext) -> MixedPrecision:
    """The run's autocast and GradScaler (``--amp``, ``amp_dtype``), built once per run."""
    state = run.state.setdefault("torchvision", {})
    if "precision" not in state:
        state["precision"] = MixedPrecision(run.device, enabled=run.options["amp"], dtype=run.options["amp_dtype"])
    return state["precision"]


def build_optimizer(run: RunContext, model: nn.Module, *,
                    sgd_lr_per_image: float = DEFAULT_LR["sgd"] / 256) -> torch.optim.Optimizer:
    """SGD with momentum (lr ``sgd_lr_per_image`` x the batch size, unless option ``lr`` is set) or
    AdamW; fused kernels on CUDA. A family whose reference recipe scales otherwise (detection) passes its own."""
    options = run.options
    name = options["optimizer"]
    lr = options["lr"] or (sgd_lr_per_image * run.config.batch_size if name == "sgd" else DEFAULT_LR[name])
    parameters = [p for p in model.parameters() if p.requires_grad]
    fused = True if run.device.type == "cuda" else None
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=options["momentum"],
                               weight_decay=options["weight_decay"], fused=fused)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=options["weight_decay"], fused=fused)


def weights_file(spec: str, model_name: str) -> Path:
    """The file behind option ``weights``: a path, or torchvision's file for ``model_name`` in
    the torch hub cache (``hub``: its default weights, ``hub:NAME``: those weights)."""
    if spec != HUB and not spec.startswith(HUB + ":"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise UsageError(f"weights {spec}: no such file (expected a state-dict file, or 'hub' for the torch hub "
                             "cache)")
        return path
    available = torchvision.models.get_model_weights(model_name)
    chosen = spec.partition(":")[2] or "DEFAULT"
    try:
        entry = available[chosen]
    except KeyError:
        names = ", ".join(w.name for w in available)
        raise UsageError(f"weights {spec}: {model_name} has no weights {chosen!r} (available: {names})") from None
    path = Path(torch.hub.get_dir()) / "checkpoints" / entry.url.rsplit("/", 1)[-1]
    if not path.is_file():
        raise UsageError(f"weights {spec}: {path} is not in the torch hub cache and nothing is downloaded; "
                         f"put {entry.url} there, or give a local file with --weights PATH")
    return path


def _state_dict(content: Any) -> dict[str, Tensor] | None:
    """A mapping of names to tensors: the content itself or under a checkpoint's usual key,
    with DistributedDataParallel's ``module.`` prefix removed."""
    for candidate in (content, *(content.get(k) for k in _WRAPPERS if isinstance(content, dict))):
        if isinstance(candidate, dict) and candidate and all(isinstance(v, Tensor) for v in candidate.values()):
            if all(str(k).startswith("module.") for k in candidate):
                return {str(k).removeprefix("module."): v for k, v in candidate.items()}
            return {str(k): v for k, v in candidate.items()}
    return None


def load_weights(model: nn.Module, spec: str, model_name: str) -> str:
    """Load option ``weights`` into ``model``; returns a one-line summary.

    Tensors whose shape differs from the model's (the classifier of another number of classes)
    keep their initialisation, as do none else: a tensor the model has and the file lacks is
    an error, and so is a file sharing no tensor with it.
    """
    path = weights_file(spec, model_name)
    state = _state_dict(load_tensors(path, f"weights {path}: not a readable weights file"))
    if state is None:
        raise UsageError(f"weights {path}: expected a state dict (names to tensors), found none")
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    # old BatchNorm files lack the step counters, which BatchNorm itself tolerates
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    if missing or not fitting:
        few = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise UsageError(f"weights {path} do not fit {model_name}: "
                         + (f"{len(missing)} of its tensors missing ({few})" if missing else "no tensor in common"))
    model.load_state_dict(fitting, strict=False)
    kept = sorted(k for k in own if k not in fitting)
    ignored = sorted(set(state) - set(own))
    summary = f"weights {path}: {len(fitting)} tensors loaded"
    if kept:
        summary += f"; re-initialised (another shape): {', '.join(kept)}"
    if ignored:
        summary += f"; not in the model, ignored: {', '.join(ignored[:5])}{', ...' if len(ignored) > 5 else ''}"
    return summary


def report(message: str) -> None:
    print(f"dnn-suite: {message}", file=sys.stderr)
