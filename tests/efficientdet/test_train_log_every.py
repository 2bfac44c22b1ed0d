"""`dnn-suite train --log-every N`: the loss is read on the host every N steps, every step's loss
is still recorded and checked, and a diverged loss names its own step."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from dnn_suite.cli import main

SMALL = ["--image-size", "64", "--batch-size", "2", "--set", "model_options.synthetic_train=8",
         "--set", "model_options.synthetic_val=2", "--set", "model_options.ema_decay=0", "--workers", "0"]


def train(*args, root: Path) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", "efficientdet", *SMALL, "--data-root", str(root / "data"), "--output", str(root),
                     "--json", *map(str, args)])
    return code, (json.loads(out.getvalue()) if out.getvalue() else None), err.getvalue()


def test_every_step_loss_is_kept_when_read_every_few_steps(tmp_path):
    code, document, err = train("--steps", 5, "--log-every", 2, root=tmp_path)
    assert code == 0, err
    metrics = document["metrics"]
    assert metrics["steps"] == 5
    assert [point[0] for point in metrics["loss_curve"]] == [1, 2, 3, 4, 5]  # 5 steps, 5 losses
    assert metrics["final_loss"] == metrics["loss_curve"][-1][1]
    assert document["task"]["log_every"] == 2
    assert "step 5/5" in err


def test_a_diverged_loss_names_its_own_step_not_the_reading_step(tmp_path):
    code, document, err = train("--steps", 8, "--log-every", 8, "--set", "model_options.lr=1.0e+30",
                                "--set", "model_options.clip_grad_norm=0", root=tmp_path)
    assert code == 1
    step = int(document["error"].rsplit("at step ", 1)[1])
    assert "the training loss is" in document["error"] and 1 <= step < 8
