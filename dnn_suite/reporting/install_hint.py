"""The pip command that adds an optional extra to dnn-suite *as it was installed here*.

``pip install 'dnn-suite[report]'`` is right only for an install from a package index: from a
checkout it would fetch another copy (or fail offline), from a Git URL it would replace it. pip
records where a distribution came from in its ``direct_url.json`` (PEP 610); the hint repeats
that source with the extra, through the interpreter that runs the suite (``python -m pip``), so
it lands in the same environment.
"""

from __future__ import annotations

import json
import shlex
import sys
from importlib import metadata
from urllib.parse import unquote, urlparse

DISTRIBUTION = "dnn-suite"


def extra_install_command(extra: str) -> str:
    """``/venv/bin/python -m pip install -e '/src/dnn-suite[report]'`` for an editable checkout, the
    directory or Git URL it was installed from, else the index name."""
    source = _installed_from()
    if source is None:
        target = f"{DISTRIBUTION}[{extra}]"
    elif "vcs_info" in source:
        vcs = source["vcs_info"]
        revision = f"@{vcs['commit_id']}" if vcs.get("commit_id") else ""
        target = f"{DISTRIBUTION}[{extra}] @ {vcs.get('vcs', 'git')}+{source['url']}{revision}"
    elif "dir_info" in source and source["url"].startswith("file://"):
        folder = unquote(urlparse(source["url"]).path)
        editable = source["dir_info"].get("editable", False)
        return _pip(["-e"] * editable + [f"{folder}[{extra}]"])
    else:  # an archive URL or file
        target = f"{DISTRIBUTION}[{extra}] @ {source['url']}"
    return _pip([target])


def _pip(arguments: list[str]) -> str:
    return shlex.join([sys.executable, "-m", "pip", "install", *arguments])


def _installed_from() -> dict | None:
    """The distribution's PEP 610 record, or None (installed from an index, or not installed). Of
    the metadata found (a checkout on ``sys.path`` also holds setuptools' ``egg-info``, without a
    record), the one pip wrote."""
    for distribution in metadata.distributions(name=DISTRIBUTION):
        try:
            source = json.loads(distribution.read_text("direct_url.json") or "null")
        except ValueError:
            continue
        if isinstance(source, dict) and isinstance(source.get("url"), str):
            return source
    return None
