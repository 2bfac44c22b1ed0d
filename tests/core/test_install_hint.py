"""The command that adds an optional extra, for dnn-suite as it was installed: read from the
``direct_url.json`` pip writes (PEP 610) in a distribution's metadata. Each case installs a
metadata folder in front of sys.path, as pip lays it out, and reads the hint back."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from dnn_suite.reporting.install_hint import extra_install_command


def _installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct_url: dict | None) -> None:
    info = tmp_path / "site" / "dnn_suite-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dnn-suite\nVersion: 0.1.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def _pip(*arguments: str) -> str:
    return shlex.join([sys.executable, "-m", "pip", "install", *arguments])


@pytest.mark.parametrize(("direct_url", "expected"), [
    ({"url": "file:///src/dnn%20suite", "dir_info": {"editable": True}}, _pip("-e", "/src/dnn suite[report]")),
    ({"url": "file:///src/dnn-suite", "dir_info": {}}, _pip("/src/dnn-suite[report]")),
    ({"url": "https://github.com/org/dnn-suite.git", "vcs_info": {"vcs": "git", "commit_id": "abc123"}},
     _pip("dnn-suite[report] @ git+https://github.com/org/dnn-suite.git@abc123")),
    ({"url": "https://example.org/dnn_suite-0.1.0-py3-none-any.whl", "archive_info": {}},
     _pip("dnn-suite[report] @ https://example.org/dnn_suite-0.1.0-py3-none-any.whl")),
])
def test_the_hint_installs_the_extra_from_where_the_suite_came_from(tmp_path, monkeypatch, direct_url, expected):
    _installed(tmp_path, monkeypatch, direct_url)
    assert extra_install_command("report") == expected


def test_from_an_index_the_hint_names_the_package(tmp_path, monkeypatch):
    """pip writes no direct_url.json for a package from an index: the hint is the plain name."""
    _installed(tmp_path, monkeypatch, None)
    # the real installation of this checkout is further down sys.path and has a record: shadow it
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "site-packages" not in p])
    assert extra_install_command("report") == _pip("dnn-suite[report]")
