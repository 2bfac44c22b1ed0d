"""The documentation site builds with every warning an error, and the README's links resolve.

A broken link or anchor between pages, a page left out of the navigation, a snippet whose file
moved, or a hook reference that no longer resolves in ``dnn_suite/hookspecs.py`` makes
``mkdocs build --strict`` fail (mkdocs.yml's ``validation`` turns each into a warning).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
# [text](target) in Markdown, outside code; the target up to a space, ")" or "#"
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)")


def _mkdocs() -> list[str]:
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[test]' brings it)")
    return [sys.executable, "-m", "mkdocs"]


def test_the_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [*_mkdocs(), "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    warnings = [line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert result.returncode == 0 and not warnings, "\n".join(warnings) or result.stderr[-3000:]
    hooks = (tmp_path / "site" / "plugins" / "hooks" / "index.html").read_text(encoding="utf-8")
    assert 'id="dnn_suite.hookspecs.dnn_suite_train_step"' in hooks
    tutorial = (tmp_path / "site" / "plugins" / "tutorial" / "index.html").read_text(encoding="utf-8")
    assert "dnn_suite_register_models" in tutorial and "project.entry-points.dnn_suite" in tutorial


def _links_outside_code(markdown: str) -> list[str]:
    prose = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return MARKDOWN_LINK.findall(prose)


def test_every_relative_link_in_the_readme_resolves():
    links = _links_outside_code((REPO / "README.md").read_text(encoding="utf-8"))
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(relative) >= 20, relative  # the map of the docs: the README's links are found at all
    missing = [link for link in relative if not (REPO / link).exists()]
    assert missing == []


def test_link_finder_sees_links_but_not_code():
    text = "see [a](docs/a.md#part) and `[b](nope.md)`\n```\n[c](nope2.md)\n```\n[d](https://x.org)"
    assert _links_outside_code(text) == ["docs/a.md", "https://x.org"]
