"""The package a user installs: its licence (an SPDX expression and the LICENSE file in the wheel)
and dependency floors that the versions tested here meet."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).parents[2]
#: md5 of the Apache License 2.0 as apache.org publishes it (https://www.apache.org/licenses/LICENSE-2.0.txt)
APACHE_2_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"
#: what a wheel is built from (the rest of the checkout: tests, docs, a virtual environment)
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "dnn_suite", "plugins", "profilers", "loggers")


def test_the_licence_is_an_spdx_expression_with_its_text():
    installed = metadata.metadata("dnn-suite")
    assert installed["License-Expression"] == "Apache-2.0"
    assert "License" not in installed  # the old free-text field, which setuptools deprecates
    assert installed.get_all("License-File") == ["LICENSE"]
    assert hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_MD5


def test_the_installed_versions_meet_the_claimed_floors():
    """pyproject's floors are what is tested (docs/getting-started.md): every dependency installed here meets them."""
    requirements = [Requirement(text) for text in metadata.requires("dnn-suite") or []]
    unmet = []
    for requirement in requirements:
        if requirement.marker is not None:  # an extra's
            continue
        version = metadata.version(requirement.name)
        if not requirement.specifier.contains(version, prereleases=True):
            unmet.append(f"{requirement} (installed {version})")
    assert not unmet
    assert metadata.metadata("dnn-suite")["Requires-Python"] == ">=3.11"
    assert sys.version_info >= (3, 11)


@pytest.mark.slow
def test_the_wheel_ships_the_licence_and_every_package(tmp_path):
    """Built from a copy of the sources, so that the build leaves nothing in the checkout (an egg-info
    there would shadow the installed metadata); setuptools must not warn about the licence's form."""
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    # -v: pip shows setuptools' own output, where its deprecation warnings are
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "-v", "-w", str(tmp_path / "wheels")], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert "License classifiers are deprecated" not in built.stdout + built.stderr
    assert "project.license` as a TOML table is deprecated" not in built.stdout + built.stderr
    wheel, = (tmp_path / "wheels").glob("dnn_suite-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
        assert f"{info}/licenses/LICENSE" in names
        assert "License-Expression: Apache-2.0" in archive.read(f"{info}/METADATA").decode()
    for module in ("dnn_suite/run/loggers.py", "dnn_suite_loggers/mlflow_logger.py", "dnn_suite_profilers/cpu.py",
                   "dnn_suite_loggers/tensorboard_logger.py", "dnn_suite/settings/declared.py"):
        assert module in names
