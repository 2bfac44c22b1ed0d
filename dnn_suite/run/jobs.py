"""``dnn-suite run|train ... --executor slurm``: the command as one job of a scheduler, and
``dnn-suite status DIR`` for such a job or a sweep.

The job gets a folder of its own, ``<output>/<time>_<command>-job_<model>-<variant>/``: the
scheduler's scripts and logs, ``job.json`` (the job id, the command, its state once asked) and,
as the command's ``--output``, the run directory the command creates. A multi-process job
(``--nnodes N --nproc-per-node G``) is one job of N x G tasks that form one process group; a
requeued ``train`` job resumes from the ``last.pt`` in its folder (see :mod:`dnn_suite.executors.slurm`).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from dnn_suite.atomic import to_json_text, write_json_atomic
from dnn_suite.errors import UsageError, reason
from dnn_suite.executors import Job, Task, executor
from dnn_suite.executors.base import without_option
from dnn_suite.run.output_dir import SCHEMA_VERSION, new_run_dir
from dnn_suite.reporting.rundirs import SWEEP_FILE
from dnn_suite.run.sweep import TAIL_LINES, sweep_status

JOB_FILE = "job.json"
#: the records a command writes in its run directory
RECORDS = ("run.json", "train.json", "eval.json")


def submit_command(argv: list[str], command: str, model: str, variant: str, output: str, *, nodes: int,
                   processes_per_node: int, executor_name: str, settings: dict[str, Any]) -> int:
    """Submit ``dnn-suite ARGV`` as one job; print where it went and how to follow it."""
    runner = executor(executor_name, settings)
    folder = new_run_dir(output, f"{command}-job_{model}-{variant}")
    argv = [*without_option(argv, "--output"), "--output", str(folder)]
    task = Task(argv, folder / "job.log", nodes, processes_per_node, folder if command == "train" else None)
    try:
        (job,) = runner.submit([task], folder, f"dnn-suite_{command}_{model}")
    except UsageError:  # the scheduler refused it (a bad partition...): no folder of a job that never was
        shutil.rmtree(folder)
        raise
    document = {"schema_version": SCHEMA_VERSION, "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": argv, "nodes": nodes, "processes_per_node": processes_per_node,
                "executor": {"name": executor_name, "settings": settings}, "job_id": job.job_id,
                "log": str(job.log.relative_to(folder)), "state": "PENDING", "reason": None, "exit_code": None,
                "run_dir": None, "run_status": None, "stderr_tail": ""}
    write_json_atomic(folder / JOB_FILE, document)
    print(f"dnn-suite: submitted job {job.job_id} ({nodes} node(s) x {processes_per_node} process(es)) -> {folder}\n"
          f"dnn-suite: watch it with: dnn-suite status {folder} [--wait]", file=sys.stderr)
    return 0


def status(directory: Path, *, wait: bool, resubmit_failed: bool, poll_s: float, as_json: bool) -> int:
    """``dnn-suite status DIR``: a sweep's points or a submitted job."""
    if (directory / SWEEP_FILE).is_file():
        return sweep_status(directory, wait=wait, resubmit_failed=resubmit_failed, poll_s=poll_s, as_json=as_json)
    if not (directory / JOB_FILE).is_file():
        raise UsageError(f"{directory}: neither a sweep directory (no {SWEEP_FILE}) nor a submitted job's "
                         f"(no {JOB_FILE})")
    if resubmit_failed:
        raise UsageError("--resubmit-failed is for sweeps; submit a failed job again with its own command")
    return _job_status(directory, wait=wait, poll_s=poll_s, as_json=as_json)


def _job_status(folder: Path, *, wait: bool, poll_s: float, as_json: bool) -> int:
    try:
        document = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
        chosen = document["executor"]
        runner = executor(chosen["name"], chosen["settings"], poll_s)
        job = Job(document["job_id"], folder / document["log"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{folder / JOB_FILE}: unreadable ({reason(exc)})") from None
    state = runner.wait(job) if wait else runner.states([job])[job.job_id]
    document.update(state=state.state, reason=state.reason, exit_code=state.exit_code)
    if job.log.is_file():
        document["stderr_tail"] = "\n".join(job.log.read_text(encoding="utf-8", errors="replace")
                                            .splitlines()[-TAIL_LINES:])
    record = next((path for path in sorted(folder.glob("*/*.json")) if path.name in RECORDS), None)
    if record is not None:
        run = json.loads(record.read_text(encoding="utf-8"))
        document.update(run_dir=record.parent.name, run_status=run.get("status"), run_error=run.get("error"))
    write_json_atomic(folder / JOB_FILE, document)
    if as_json:
        sys.stdout.write(to_json_text(document))
    else:
        print(_format_job(document, folder))
    if not state.ended:
        return 0
    return 0 if state.state == "COMPLETED" and document["run_status"] == "ok" else 1


def _format_job(document: dict[str, Any], folder: Path) -> str:
    lines = [f"job {document['job_id']}: {document['state']}" + (f" ({document['reason']})" if document["reason"] else "")
             + (f", exit code {document['exit_code']}" if document["exit_code"] is not None else "")]
    if document["run_dir"]:
        error = document.get("run_error")
        lines.append(f"run {document['run_status']}" + (f": {error}" if error else "") + f": {folder / document['run_dir']}")
    if document["state"] not in ("PENDING", "RUNNING", "COMPLETED") and document["stderr_tail"]:
        lines += ["the end of its log " + str(folder / document["log"]) + ":", document["stderr_tail"]]
    return "\n".join(lines)
