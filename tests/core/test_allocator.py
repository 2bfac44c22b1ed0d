"""The allocator policy (dnn_suite/run/allocator.py): glibc keeps freed memory under ``kept`` and gives it back
under ``returned`` (glibc's own policy; ``default``, its old name, still means it), children inherit the setting through the environment, a user's own setting wins, and
``dnn-suite run`` records the policy in force.

Each check runs in a fresh process whose environment carries no malloc setting: mallopt's setting
lasts for a process's life, and in-process CLI calls of other tests put ``kept`` in force here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dnn_suite.run import allocator

GLIBC = allocator.in_force()["libc"].startswith("glibc ")
needs_glibc = pytest.mark.skipif(not GLIBC, reason="the policy acts on glibc's malloc only")
MIB = 2**20

# Applies the policy in argv[1] ("none": applies nothing), touches and frees 256 MiB, prints the resident memory
# before and after the free, the record and the malloc variables; with argv[2] == "child" it runs itself again
# with "none" in a child process and prints what the child saw instead.
PROBE = """
import json, os, subprocess, sys
import numpy
from dnn_suite.run import allocator

def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

record = allocator.apply(sys.argv[1]) if sys.argv[1] != "none" else allocator.in_force()
if sys.argv[2:] == ["child"]:
    sys.exit(subprocess.run([sys.executable, __file__, "none"]).returncode)
block = numpy.ones(256 * 2**20, dtype=numpy.uint8)  # every page touched
touched = resident()
del block
variables = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"}
print(json.dumps({"touched": touched, "freed": resident(), "record": record, "variables": variables}))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any malloc setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    return env | extra


@pytest.fixture
def probe(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)

    def run(*args: str, **extra: str) -> dict:
        completed = subprocess.run([sys.executable, str(script), *args], text=True, capture_output=True,
                                   env=_clean_env(**extra), timeout=60)
        assert completed.returncode == 0, completed.stderr
        return json.loads(completed.stdout)

    return run


@needs_glibc
def test_kept_keeps_freed_memory_resident_and_returned_gives_it_back(probe):
    kept, returned = probe("kept"), probe("returned")
    assert kept["touched"] - kept["freed"] < 16 * MIB  # the 256 MiB stay in the heap for reuse
    assert returned["touched"] - returned["freed"] > 200 * MIB  # munmap on free
    assert kept["record"]["mmap_threshold"] == 2**30 and kept["record"]["mmap_threshold_set_by"] == "dnn-suite"
    assert kept["record"]["trim_threshold"] == 2**31 - 1 and kept["record"]["note"] is None
    assert returned["record"] == {"policy": "returned", "libc": kept["record"]["libc"], "mmap_threshold": None,
                                  "mmap_threshold_set_by": "glibc default", "trim_threshold": None,
                                  "trim_threshold_set_by": "glibc default", "note": None}
    assert returned["variables"] == {}
    assert probe("default")["record"] == returned["record"]  # the old name


@needs_glibc
def test_children_inherit_kept_through_the_environment(probe):
    child = probe("kept", "child")  # the child applies nothing itself
    assert child["variables"] == {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}
    assert child["touched"] - child["freed"] < 16 * MIB
    assert child["record"]["policy"] is None
    assert child["record"]["mmap_threshold"] == 2**30
    assert child["record"]["mmap_threshold_set_by"] == "MALLOC_MMAP_THRESHOLD_"


@needs_glibc
def test_a_users_own_thresholds_are_left_as_they_are(probe):
    seen = probe("kept", MALLOC_MMAP_THRESHOLD_="131072", GLIBC_TUNABLES="glibc.malloc.trim_threshold=4096")
    assert seen["touched"] - seen["freed"] > 200 * MIB  # the user's 128 KiB threshold: mmap, munmap on free
    assert seen["variables"] == {"MALLOC_MMAP_THRESHOLD_": "131072",
                                 "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=4096"}
    record = seen["record"]
    assert (record["mmap_threshold"], record["mmap_threshold_set_by"]) == (131072, "MALLOC_MMAP_THRESHOLD_")
    assert (record["trim_threshold"], record["trim_threshold_set_by"]) == (4096, "GLIBC_TUNABLES")


class _OldGlibc:
    """mallopt of glibc before the limit went: an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB) is refused."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return int(value <= 32 * MIB)


def test_a_refused_threshold_falls_back_to_the_largest_accepted_one():
    old = _OldGlibc()
    mmap, trim = allocator.THRESHOLDS
    assert allocator._largest_accepted(old, mmap) == 32 * MIB
    assert [value for _, value in old.calls] == [2**30, 2**29, 2**28, 2**27, 2**26, 2**25]
    assert allocator._largest_accepted(old, trim) == (2**31 - 1) >> 6  # the trim threshold halves the same way


def _run_tiny(output: Path, *flags: str) -> dict:
    completed = subprocess.run([sys.executable, "-m", "dnn_suite", "run", "tiny", "--output", str(output),
                                "--iterations", "1", "--warmup", "0", "--workers", "0", "--json", *flags],
                               text=True, capture_output=True, env=_clean_env(), timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@needs_glibc
@pytest.mark.slow  # two children that import torch: seconds
def test_run_records_the_policy_in_force_and_compare_names_the_difference(tiny_plugin, cli, tmp_path):
    kept = _run_tiny(tmp_path)
    returned = _run_tiny(tmp_path, "--allocator", "returned")
    assert kept["config"]["allocator"] == "kept" and returned["config"]["allocator"] == "returned"
    assert kept["environment"]["allocator"]["policy"] == "kept"
    assert kept["environment"]["allocator"]["mmap_threshold"] == 2**30
    assert returned["environment"]["allocator"]["policy"] == "returned"
    assert returned["environment"]["allocator"]["mmap_threshold_set_by"] == "glibc default"
    compared = cli("compare", kept["run_dir"], returned["run_dir"])
    assert compared.code == 0, compared.err
    assert "the runs' settings differ in: allocator" in compared.out


@pytest.mark.parametrize("flags", [("--allocator", "tcmalloc"), ("--set", "allocator=tcmalloc"),
                                   ("--set", "allocator=[1]")])
def test_a_bad_policy_is_a_one_line_usage_error(tiny_plugin, cli, tmp_path, flags):
    result = cli("run", "tiny", "--output", tmp_path, *flags)
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and "kept" in result.err and "returned" in result.err, result.err
    assert "default" not in result.err  # the old name is accepted, not offered


@pytest.mark.parametrize("where", ["flag", "set", "suite.yaml"])
def test_the_old_name_default_is_run_and_recorded_as_returned(tiny_plugin, cli, tmp_path, where):
    """``default`` was ``returned``'s name: a suite.yaml, a command line or a recorded run may still say it."""
    suite = tmp_path / "suite.yaml"
    suite.write_text("defaults:\n  allocator: default\n")
    flags = {"flag": ["--allocator", "default"], "set": ["--set", "allocator=default"],
             "suite.yaml": ["--config", str(suite)]}[where]
    result = cli("run", "tiny", "--output", tmp_path / "out", "--iterations", "1", "--warmup", "0", "--workers", "0",
                 "--json", *flags)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["config"]["allocator"] == "returned"
    assert document["environment"]["allocator"]["policy"] == "returned"


def test_benchmarks_default_to_glibcs_own_and_record_the_policy_in_their_header():
    """benchmarks/ab.py: --allocator returned (glibc's own, the default, so published figures stay comparable) or
    kept, for the whole process; the JSON header records it. One child: the default first, then kept."""
    script = """
import json, sys
sys.path.insert(0, "benchmarks")
import ab
p = ab.parser("t", rounds=1, quick_rounds=1)
print(json.dumps([ab.header("t", ab.parse(p, argv))["machine"]["allocator"] for argv in ([], ["--allocator", "kept"])]))
"""
    completed = subprocess.run([sys.executable, "-c", script], text=True, capture_output=True, env=_clean_env(),
                               cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert completed.returncode == 0, completed.stderr
    default, kept = json.loads(completed.stdout.splitlines()[-1])
    assert default["policy"] == "returned" and default["mmap_threshold_set_by"] == "glibc default"
    assert kept["policy"] == "kept" and kept["mmap_threshold_set_by"] == ("dnn-suite" if GLIBC else "glibc default")
