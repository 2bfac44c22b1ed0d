"""Fixtures and helpers of the profiler plugin tests (imported by tests/profilers/test_plugin_*.py).

The fake tools live in ``fakes/bin`` (``nvprof``, ``nsys``, ``ncu``: Python scripts that check
their argv, run the real benchmark child and write outputs in the tools' formats from the
capture calls the child really made); the fake ``pynvml`` in ``fakes/``; ``fakes/README.md``
says how each behaves. ``dirname(sys.executable)`` goes on PATH right after the fakes, so
their ``#!/usr/bin/env python3`` is this interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FAKES = Path(__file__).parent
FAKE_BIN = FAKES / "bin"
TESTS = FAKES.parent.parent
TEST_PLUGINS = TESTS / "plugins"


def tool_path(*first: Path) -> str:
    return os.pathsep.join([*map(str, first), str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a `dnn-suite` process that finds the fakes and the tiny model."""
    return {
        **os.environ,
        "PATH": tool_path(FAKE_BIN),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TEST_PLUGINS), os.environ.get("PYTHONPATH")])),
        "DNN_SUITE_PLUGINS": "tiny_model",
        **extra,
    }


def run_process(*args: Any, **extra_env: str) -> subprocess.CompletedProcess:
    """`python -m dnn_suite ARGS...` in a child process with the fakes on PATH."""
    return subprocess.run([sys.executable, "-m", "dnn_suite", *map(str, args)], capture_output=True, text=True,
                          env=child_env(**extra_env), timeout=300)


def load_run(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "run.json").read_text())


def only_run_dir(output: Path) -> Path:
    runs = [p for p in Path(output).iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def value(document: dict[str, Any], profiler: str, key: str) -> Any:
    return document["profilers"][profiler]["metrics"][key]["value"]


@pytest.fixture
def fake_tools(monkeypatch, tiny_plugin):
    """The fake nvprof/nsys/ncu first on PATH, for in-process `cli` calls and their children."""
    monkeypatch.setenv("PATH", tool_path(FAKE_BIN))


@pytest.fixture
def no_tools(monkeypatch, tiny_plugin, tmp_path):
    """A PATH with no profiler tool on it (only this interpreter's directory)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", os.pathsep.join([str(empty), str(Path(sys.executable).parent)]))


@pytest.fixture
def fake_pynvml(monkeypatch, tiny_plugin):
    """The fake pynvml importable in this process (fresh) and first on children's PYTHONPATH."""
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(FAKES), os.environ["PYTHONPATH"]]))
    import pynvml

    assert getattr(pynvml, "FAKE", False), pynvml.__file__
    yield pynvml
    sys.modules.pop("pynvml", None)


def run_in_process(*args: Any, **extra_env: str) -> tuple[int, str, str]:
    """`dnn-suite ARGS...` in this process (the environment of :func:`child_env`), for
    module-scoped fixtures that cannot use ``monkeypatch``/``capsys``; returns (code, out, err)."""
    import contextlib
    import io

    from dnn_suite.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for key, text in child_env(**extra_env).items():
            if os.environ.get(key) != text:
                patch.setenv(key, text)
        patch.syspath_prepend(str(TEST_PLUGINS))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()
