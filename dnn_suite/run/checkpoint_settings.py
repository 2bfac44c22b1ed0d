"""A trained checkpoint is used with the settings it was trained with.

``dnn-suite eval --checkpoint PATH``, and any command given ``--weights PATH`` of a dnn-suite
training checkpoint, use the model as it was trained: the variant and every model option its
plugin declares ``trained`` (image size, classes and their order, channels-last, mixed
precision) come from the checkpoint unless given. One given and
different from the checkpoint's is used, with a one-line warning naming both values (the model
plugin still refuses what cannot work, such as weights of another variant).

Where the settings come from: the checkpoint's own record (``run_settings``, written by
:func:`dnn_suite.training.builder.build_training`), else the record of the training run that
holds it (``train.json``, for checkpoints written before they recorded their settings).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dnn_suite.settings.resolve import RunConfig, SuiteFile, resolve
from dnn_suite.errors import UsageError
from dnn_suite.registry import Registry
from dnn_suite.run.resume import run_dir, saved_settings
from dnn_suite.training.checkpoint import RUN_SETTINGS, load_tensors



def recorded_settings(path: Path) -> dict[str, Any] | None:
    """The model, variant and model options the checkpoint at ``path`` was trained with; None when
    neither it nor its run records them (a foreign file: the model plugin says what is wrong)."""
    if not path.is_file():
        return None
    try:
        checkpoint = load_tensors(path, "")
    except UsageError:  # unreadable: the model plugin reads it again and names the problem
        return None
    recorded = (checkpoint.get(RUN_SETTINGS) or {}) if isinstance(checkpoint, dict) else {}
    if not recorded:
        recorded = saved_settings(run_dir(path)) or {}
    if not isinstance(recorded.get("model_options"), dict) or not recorded.get("model"):
        return None
    return recorded


def trained_config(path: Path, target: str, registry: Registry, *, suite: SuiteFile | None,
                   flags: dict[str, Any]) -> RunConfig:
    """The configuration of a run of the checkpoint at ``path``: the checkpoint's settings under
    those given (suite.yaml, flags), with a warning for each given one that differs."""
    config = resolve(target, registry, suite=suite, flags=flags)
    recorded = recorded_settings(path)
    if recorded is None or recorded["model"] != config.model:
        return config
    trained = {option.name for option in registry.model(config.model)[0].spec.options if option.trained}
    options = {key: value for key, value in recorded["model_options"].items() if key in trained}
    start = {"model_options": options, **({"variant": recorded["variant"]} if recorded.get("variant") else {})}
    config = resolve(target, registry, suite=suite, flags=flags, start=start)
    recorded_values = {**{f"model_options.{key}": value for key, value in options.items()},
                       **({"variant": recorded["variant"]} if "variant" in start else {})}
    used = {**{f"model_options.{key}": value for key, value in config.model_options.items()},
            "variant": config.variant}
    for key, value in recorded_values.items():
        if used.get(key) != value:
            print(f"dnn-suite: warning: {path} was trained with {key} {value!r}; using {used.get(key)!r} as given",
                  file=sys.stderr)
    return config
