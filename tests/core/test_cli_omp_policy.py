"""The CLI's own OMP_WAIT_POLICY default, seen by a child whose environment lacks it (tests/conftest.py sets it here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _policy_seen_by_the_cli(**extra: str) -> str | None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | extra
    completed = subprocess.run([sys.executable, "-m", "dnn_suite", "env", "--json"], capture_output=True, text=True,
                               env=env, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)["omp_wait_policy"]


@pytest.mark.slow  # a child that imports torch: seconds
def test_the_cli_sets_passive_waiting_when_the_environment_does_not_say():
    assert _policy_seen_by_the_cli() == "PASSIVE"


@pytest.mark.slow
def test_an_explicit_policy_in_the_environment_wins():
    assert _policy_seen_by_the_cli(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
