"""`dnn-suite train efficientdet` stopped by SIGTERM (a scheduler's signal, sent to the dnn-suite
process alone, or to its whole process group with its data-loader workers): the step finishes, ``last.pt`` is written, the exit code is 143, and the run
resumes from its own settings without repeating its flags. Under torchrun every rank stops after
the same step and rank 0 saves it.

D0 at 64 pixels on 8 synthetic images, batch 2 (as in test_train.py), torch on one thread.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dnn_suite.cli import main

SMALL = ["--image-size", "64", "--batch-size", "2", "--set", "model_options.synthetic_train=8",
         "--set", "model_options.synthetic_val=2", "--set", "model_options.ema_decay=0.9"]


def _terminated(*args: str | Path, output: Path, group: bool = False) -> tuple[subprocess.Popen, str]:
    """Start `dnn-suite train efficientdet ARGS`, SIGTERM it once the first step is done; (process, stderr).
    With ``group``, it runs in a process group of its own and the whole group gets the signal."""
    command = [sys.executable, "-m", "dnn_suite", "train", "efficientdet", *map(str, args), "--output", str(output)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=group)
    lines = []
    try:
        for line in child.stderr:  # the first progress line: training is under way
            lines.append(line)
            if line.startswith("step 1/"):
                break
        if group:
            os.killpg(child.pid, signal.SIGTERM)
        else:
            child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=300)
    finally:
        child.kill()
    return child, "".join(lines) + err


def _cli(*args: str | Path) -> tuple[int, str, str]:
    """`dnn-suite ARGS` in this process, torch on one thread (as the children run)."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        torch.set_num_threads(threads)
    return code, out.getvalue(), err.getvalue()


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_sigterm_saves_last_pt_and_the_run_resumes_with_its_own_settings(tmp_path):
    data_root = tmp_path / "data"
    child, err = _terminated(*SMALL, "--data-root", data_root, "--workers", "2", "--steps", "200",
                             output=tmp_path / "runs", group=True)
    assert child.returncode == 143, err
    assert "DataLoader worker" not in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    step = _state(run_dir / "checkpoints" / "last.pt")["step"]
    assert 1 <= step < 200
    assert "SIGTERM received: finishing this step" in err
    assert f"interrupted at step {step}; continue with: dnn-suite train efficientdet --resume" in err
    record = json.loads((run_dir / "train.json").read_text())
    assert record["status"] == "interrupted" and record["error"] == "interrupted by SIGTERM"
    assert not list(run_dir.rglob("*.tmp"))

    # Another image size or batch: refused, naming each difference (nothing else is touched).
    code, _, err = _cli("train", "efficientdet", "--resume", run_dir, "--image-size", "128", "--batch-size", "4")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "model_options.image_size 64 (this run: 128)" in line and "batch_size 2 (this run: 4)" in line
    assert json.loads((run_dir / "train.json").read_text()) == record

    # No flags repeated: the run's settings; only the length and the workers are new.
    code, out, err = _cli("train", "efficientdet", "--resume", run_dir, "--steps", step + 1, "--workers", "0", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["metrics"]["start_step"] == step and document["metrics"]["steps"] == step + 1
    assert document["config"]["model_options"]["image_size"] == 64 and document["config"]["batch_size"] == 2
    assert document["config"]["workers"] == 0 and document["config"]["data_root"] == str(data_root)
    assert _state(run_dir / "checkpoints" / "last.pt")["step"] == step + 1


@pytest.mark.slow
def test_sigterm_under_torchrun_stops_every_rank_after_the_same_step(tmp_path):
    """The parent forwards SIGTERM to torchrun, torchrun to its workers; they agree on the step,
    rank 0 saves it, and dnn-suite exits 143 (torchrun itself exits 1 after a signal)."""
    child, err = _terminated(*SMALL, "--data-root", tmp_path / "data", "--workers", "0", "--steps", "200",
                             "--nproc-per-node", "2", "--set", "model_options.clip_grad_norm=0", output=tmp_path / "runs")
    assert child.returncode == 143, err
    (run_dir,) = (tmp_path / "runs").iterdir()
    state = _state(run_dir / "checkpoints" / "last.pt")
    assert 1 <= state["step"] < 200 and state["config"]["world_size"] == 2
    record = json.loads((run_dir / "train.json").read_text())
    assert record["status"] == "interrupted" and "SIGTERM" in record["error"]
