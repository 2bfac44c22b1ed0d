"""Shared fixtures: the tiny test model plugin, and running the CLI in-process or as a child."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does, before torch loads (see dnn_suite/cli.py)
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).parent
REPO = TESTS.parent
TEST_PLUGINS = TESTS / "plugins"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def run_dir(self) -> Path:
        """The run directory of a `run --json` invocation."""
        return Path(json.loads(self.out)["run_dir"])


@pytest.fixture
def tiny_plugin(monkeypatch):
    """Make the `tiny` test model available to in-process and child CLI calls."""
    monkeypatch.syspath_prepend(str(TEST_PLUGINS))
    monkeypatch.setenv("DNN_SUITE_PLUGINS", "tiny_model")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TEST_PLUGINS), os.environ.get("PYTHONPATH")])))


@pytest.fixture
def cli(capsys):
    """Call `dnn-suite ARGS...` in this process; returns exit code, stdout, stderr."""
    from dnn_suite.entry import main

    def invoke(*args: str) -> Result:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def cli_process():
    """Call `python -m dnn_suite ARGS...` as a child process (for exit paths such as signals)."""

    def invoke(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
        completed = subprocess.run([sys.executable, "-m", "dnn_suite", *map(str, args)], capture_output=True,
                                   text=True, env={**os.environ, **(env or {})}, timeout=timeout)
        return Result(completed.returncode, completed.stdout, completed.stderr)

    return invoke


@pytest.fixture(scope="module")
def own_voc(tmp_path_factory) -> Path:
    """A small VOC-layout dataset of the user's kind (tests/own_data.py)."""
    from own_data import write_own_voc

    return write_own_voc(tmp_path_factory.mktemp("own") / "shapes", {"trainval": 8, "test": 4})


@pytest.fixture(scope="module")
def own_coco(tmp_path_factory) -> Path:
    """A small COCO-layout dataset of the user's kind (tests/own_data.py)."""
    from own_data import write_own_coco

    return write_own_coco(tmp_path_factory.mktemp("own_coco"), {"train": 8, "val": 4})


@pytest.fixture(scope="module")
def torch_one_thread():
    """torch on one intra-op thread for a module's tests: on a small shared CPU, more threads
    competing with other processes make every step many times slower; results do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
