"""``--executor slurm`` against a real SLURM (tools/slurm-up.sh starts a one-node one; CI does):
a sweep as one job array, a point cancelled with scancel and resubmitted, two tasks of one job
forming a gloo process group, a job past its time limit. Skipped where no SLURM answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dnn_suite.reporting.rundirs import load_runs

TESTS = Path(__file__).parents[1]


def _slurm_missing() -> str | None:
    """Why these tests cannot run here, or None."""
    if shutil.which("sinfo") is None:
        return "no SLURM on this machine (as root: tools/slurm-up.sh)"
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10).stdout.split()
    except subprocess.TimeoutExpired:
        return "sinfo does not answer: slurmctld is not running (as root: tools/slurm-up.sh)"
    if not {"idle", "mixed", "allocated"} & set(states):
        return f"no SLURM node is up (sinfo: {' '.join(states) or 'nothing'}; as root: tools/slurm-up.sh)"
    try:
        import submitit  # noqa: F401
    except ImportError:
        return "submitit is not installed (pip install -e '.[test]')"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_slurm_missing() is not None, reason=str(_slurm_missing()))]
FAST = ("--warmup", "1", "--workers", "0", "--set", "slurm.time_limit_min=5")


def dnn_suite(*args: object, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    """``python -m dnn_suite ARGS`` with the tiny test model (its jobs inherit this environment)."""
    plugins = str(TESTS / "plugins")
    env = {**os.environ, "DNN_SUITE_PLUGINS": "tiny_model",
           "PYTHONPATH": os.pathsep.join(filter(None, [plugins, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "dnn_suite", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)
    if check is not None:
        assert done.returncode == check, done.stderr
    return done


def _only_dir(folder: Path) -> Path:
    (found,) = folder.iterdir()
    return found


@pytest.fixture(scope="module")
def timed_out_job(tmp_path_factory) -> Path:
    """A run that would take minutes, under a one-minute time limit; submitted first, so that
    SLURM ends it while the other tests run."""
    output = tmp_path_factory.mktemp("timeout")
    dnn_suite("run", "tiny", "--executor", "slurm", "--output", output, "--iterations", "100000", "--warmup", "0",
              "--workers", "0", "--set", "slurm.time_limit_min=1", "--set", "model_options.data_delay_s=0.5")
    return _only_dir(output)


def test_a_sweep_is_one_job_array_a_cancelled_point_is_recorded_and_resubmitted(timed_out_job, tmp_path):
    started = time.monotonic()
    submitted = dnn_suite("run", "tiny", "--executor", "slurm", "--batch-size", "2,4", "--iterations", "30",
                          "--output", tmp_path, "--set", "model_options.data_delay_s=0.1", *FAST)
    assert time.monotonic() - started < 30  # returns once SLURM has the jobs, not when they ended
    sweep_dir = _only_dir(tmp_path)
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    first, second = sweep["points"]
    array = first["job_id"].split("_")[0]
    assert (first["job_id"], second["job_id"]) == (f"{array}_0", f"{array}_1")  # one job array
    assert sweep["executor"]["name"] == "slurm" and sweep["status"] == "running"
    assert f"submitted jobs {array}_0, {array}_1" in submitted.stderr and str(sweep_dir) in submitted.stderr

    # cancel batch size 4 once its run has started
    deadline = time.monotonic() + 120
    while not list(sweep_dir.glob("*_bs4/run.json")):
        assert time.monotonic() < deadline, "the bs 4 point never started"
        time.sleep(0.5)
    subprocess.run(["scancel", second["job_id"]], check=True)
    status = dnn_suite("status", sweep_dir, "--wait", "--poll", "1", "--json", check=1)
    ok, cancelled = json.loads(status.stdout)["points"]
    assert (ok["status"], ok["state"], ok["exit_code"]) == ("ok", "COMPLETED", 0)
    assert ok["metrics"]["throughput"]["value"] > 0
    assert (cancelled["status"], cancelled["state"]) == ("cancelled", "CANCELLED")
    assert cancelled["reason"].startswith("the job was cancelled (scancel) (scheduler state CANCELLED")
    assert "interrupted" in cancelled["reason"]  # what the run recorded: SIGTERM, a clean stop
    assert cancelled["stderr_tail"] and (sweep_dir / cancelled["log"]).is_file()
    runs, _ = load_runs(sweep_dir)
    assert [run.document["status"] for run in runs] == ["ok", "interrupted"]

    # the cancelled point again: a new job, its first run kept aside, then the whole table ok
    again = dnn_suite("status", sweep_dir, "--resubmit-failed", "--wait", "--poll", "1")
    assert "resubmitted 1 point(s): jobs " in again.stderr
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    ok, resubmitted = sweep["points"]
    assert resubmitted["job_id"] not in (first["job_id"], second["job_id"])
    assert (resubmitted["status"], resubmitted["reason"]) == ("ok", None)
    assert resubmitted["earlier_runs"] == [cancelled["run_dir"]] != [resubmitted["run_dir"]]
    assert sweep["status"] == "ok" and sweep["runs"] == [ok["run_dir"], resubmitted["run_dir"]]
    lines = again.stdout.splitlines()
    assert lines[0].split()[:4] == ["batch", "profilers", "status", "job"]
    assert lines[1].split()[:4] == ["2", "-", "ok", first["job_id"]]
    assert lines[2].split()[:4] == ["4", "-", "ok", resubmitted["job_id"]]
    assert lines[-1] == f"sweep ok: {sweep_dir}"


def test_two_tasks_of_one_job_form_one_gloo_process_group(timed_out_job, tmp_path):
    dnn_suite("run", "tiny", "--executor", "slurm", "--nproc-per-node", "2", "--batch-size", "4", "--iterations", "2",
              "--output", tmp_path, *FAST)
    job_dir = _only_dir(tmp_path)
    status = dnn_suite("status", job_dir, "--wait", "--poll", "1", "--json")
    job = json.loads(status.stdout)
    assert (job["state"], job["exit_code"], job["run_status"]) == ("COMPLETED", 0, "ok")
    assert job["nodes"] == 1 and job["processes_per_node"] == 2
    run = json.loads((job_dir / job["run_dir"] / "run.json").read_text())
    # rank 0 wrote one run for both: 2 ranks x 2 iterations x 4 samples
    assert run["metrics"]["samples"] == 16 and run["metrics"]["iterations"] == 2
    assert [p.name for p in job_dir.iterdir() if (p / "run.json").is_file()] == [job["run_dir"]]


def test_a_job_past_its_time_limit_is_recorded_as_timed_out(timed_out_job):
    status = dnn_suite("status", timed_out_job, "--wait", "--poll", "1", "--json", check=1)
    job = json.loads(status.stdout)
    assert job["state"] == "TIMEOUT" and job["run_status"] == "interrupted"
    assert "SIGTERM" in job["run_error"]
    run = json.loads((timed_out_job / job["run_dir"] / "run.json").read_text())
    assert run["status"] == "interrupted" and run["metrics"]["iterations"] > 0  # what it measured is kept
