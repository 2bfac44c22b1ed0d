"""The SLURM executor: tasks become jobs of one job array, submitted through submitit.

Submission side: :class:`SlurmExecutor` turns the ``slurm`` settings (:data:`SETTINGS`) into
sbatch options, submits every task as a job of one array (a multi-process task: one job of
``nodes x processes_per_node`` SLURM tasks) and keeps submitit's scripts and logs in
``FOLDER/slurm/``. Job states come from ``scontrol`` (the controller's memory of running and
recently ended jobs), then ``sacct`` (the accounting database, where the cluster has one).

Job side: :class:`JobCommand` runs ``python -m dnn_suite ARGV`` in the job. In a job of several
SLURM tasks it first gives each task torchrun's environment from SLURM's (:func:`torch_environment`),
so the processes join one process group through the same code as under torchrun. A job that SLURM
requeued (after preemption) and that was a ``train`` resumes from the ``last.pt`` its first run wrote.

SLURM's own end of a job is left as it is: at the time limit, at ``scancel`` and at preemption every
process gets SIGTERM, which the suite turns into a clean stop (what was measured is recorded, training
writes ``last.pt``). submitit always asks SLURM for a warning signal before the time limit, for its own
checkpoint-and-requeue protocol, which would end the job's process without its record: that warning is
made SIGCONT, which no process here acts on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dnn_suite.errors import UsageError
from dnn_suite.executors.base import IN_JOB, Job, JobState, Task, without_option

#: the ``slurm`` settings (suite.yaml ``slurm:``, ``--set slurm.KEY=VALUE``) and their defaults
SETTINGS: dict[str, Any] = {
    "partition": None,       # sbatch --partition
    "account": None,         # --account
    "qos": None,             # --qos
    "time_limit_min": 60,    # --time, in minutes
    "gpus_per_node": None,   # --gpus-per-node
    "cpus_per_task": None,   # --cpus-per-task
    "mem_gb": None,          # --mem, per node
    "sbatch": {},            # any other sbatch option: {constraint: a100, exclusive: true}
    "setup": [],             # shell lines run before the job's command: ["module load cuda/12.4"]
}
LOG_SUFFIX = "_0_log.err"
_RESTARTS = "SLURM_RESTART_COUNT"


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise UsageError("--executor slurm needs submitit: pip install 'dnn-suite[slurm]' "
                         "(or pip install submitit)") from None
    return submitit


class SlurmExecutor:
    detached = True

    def __init__(self, settings: dict[str, Any], poll_s: float = 10.0) -> None:
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise UsageError(f"slurm.{unknown[0]}: unknown slurm setting (allowed: {', '.join(SETTINGS)})")
        self.submitit = _submitit()
        self.settings = {**SETTINGS, **settings}
        self.poll_s = poll_s

    def _parameters(self, task: Task, name: str) -> dict[str, Any]:
        s = self.settings
        extra = {"signal": "CONT@1", **({"requeue": True} if task.resume_in else {}), **s["sbatch"]}
        given = {"partition": s["partition"], "account": s["account"], "qos": s["qos"],
                 "gpus_per_node": s["gpus_per_node"], "cpus_per_task": s["cpus_per_task"],
                 "mem": f"{s['mem_gb']}GB" if s["mem_gb"] else None}
        return {"job_name": name, "time": s["time_limit_min"], "nodes": task.nodes,
                "ntasks_per_node": task.processes_per_node, "setup": list(s["setup"]),
                "additional_parameters": extra, **{k: v for k, v in given.items() if v is not None}}

    def submit(self, tasks: list[Task], folder: Path, name: str) -> list[Job]:
        submitit = self.submitit
        shapes = {(task.nodes, task.processes_per_node, task.resume_in is None) for task in tasks}
        assert len(shapes) == 1, "the jobs of one array share their resources"
        executor = submitit.SlurmExecutor(folder=folder / "slurm")
        executor.update_parameters(**self._parameters(tasks[0], name))
        try:
            with executor.batch():
                pending = [executor.submit(JobCommand(task.argv, task.resume_in)) for task in tasks]
        except submitit.core.utils.FailedJobError as exc:  # sbatch refused: a bad partition, account...
            raise UsageError(f"sbatch refused the job: {_last_line(str(exc))}") from None
        return [Job(job.job_id, Path(str(job.paths.stderr)), task) for job, task in zip(pending, tasks)]

    def wait(self, job: Job) -> JobState:
        while True:
            state = self.states([job])[job.job_id]
            if state.ended:
                return state
            time.sleep(self.poll_s)

    def states(self, jobs: list[Job]) -> dict[str, JobState]:
        ids = [job.job_id for job in jobs]
        found = _scontrol_states()
        missing = [i for i in ids if i not in found]
        if missing:
            found.update(_sacct_states(missing))
        return {i: found.get(i, JobState("UNKNOWN", "neither scontrol nor sacct knows this job")) for i in ids}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def _exit_code(field: str) -> int | None:
    """SLURM's ``EXIT:SIGNAL`` as a process exit code (negative: killed by that signal)."""
    code, _, signum = field.partition(":")
    if not code.isdigit():
        return None
    return -int(signum) if signum.isdigit() and int(signum) else int(code)


def _array_ids(array_job: str, tasks: str) -> list[str]:
    """``ARRAY_TASK`` ids of an array line: ``3``, or ``0-3,5%2`` while tasks wait as one record."""
    ids = []
    for part in tasks.split("%")[0].split(","):
        first, _, last = part.partition("-")
        ids += [f"{array_job}_{n}" for n in range(int(first), int(last or first) + 1)]
    return ids


def _scontrol_states() -> dict[str, JobState]:
    """Every job the controller knows (``scontrol show job -o``: one line each), by job id;
    array tasks as ``ARRAYJOB_TASK``, as submitit names them."""
    try:
        out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    states = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(?:^| )(JobId|ArrayJobId|ArrayTaskId|JobState|Reason|ExitCode)=(\S*)", line))
        if "JobId" not in fields:
            continue
        reason = fields.get("Reason")
        state = JobState(fields.get("JobState", "UNKNOWN"), None if reason in (None, "None") else reason,
                         _exit_code(fields.get("ExitCode", "")))
        ids = _array_ids(fields["ArrayJobId"], fields["ArrayTaskId"]) if "ArrayTaskId" in fields else []
        for job_id in ids or [fields["JobId"]]:
            states[job_id] = state
    return states


def _sacct_states(ids: list[str]) -> dict[str, JobState]:
    """Job states from the accounting database (none where the cluster keeps no accounting)."""
    command = ["sacct", "-X", "-n", "-P", "-o", "JobID,State,ExitCode,Reason", "-j", ",".join(ids)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    states = {}
    for line in done.stdout.splitlines() if done.returncode == 0 else []:
        job_id, state, code, reason = (line.split("|") + ["", "", "", ""])[:4]
        words = state.split()  # "CANCELLED by 0"
        states[job_id] = JobState(words[0] if words else "UNKNOWN",
                                  " ".join(words[1:]) or (None if reason in ("", "None") else reason), _exit_code(code))
    return states


def first_node(nodelist: str) -> str:
    """The first host of a SLURM node list (``gpu[03-05,07],cpu1`` -> ``gpu03``), as ``scontrol show hostnames`` gives it."""
    done = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
    return done.stdout.split()[0]


def torch_environment(env: dict[str, str]) -> dict[str, str]:
    """torchrun's variables for this SLURM task: its rank among the job's tasks, its rank on its
    node, the job's task count, and the first node of the job as the rendezvous (a port from the job id)."""
    return {"RANK": env["SLURM_PROCID"], "LOCAL_RANK": env["SLURM_LOCALID"], "WORLD_SIZE": env["SLURM_NTASKS"],
            "MASTER_ADDR": first_node(env["SLURM_JOB_NODELIST"]),
            "MASTER_PORT": str(20000 + int(env["SLURM_JOB_ID"]) % 20000)}


class JobCommand:
    """What a job runs: ``python -m dnn_suite ARGV`` (pickled by submitit, called in the job).

    ``resume_in`` (a ``train`` job): the job's ``--output`` folder, given in ``argv``; a requeued job resumes from the
    ``last.pt`` its earlier run wrote there. The job's exit code is the command's, so that SLURM's
    record says how the command ended.
    """

    def __init__(self, argv: list[str], resume_in: Path | None = None) -> None:
        self.argv = argv
        self.resume_in = resume_in

    def command(self, env: dict[str, str]) -> list[str]:
        argv = self.argv
        last = sorted(self.resume_in.glob("*/checkpoints/last.pt")) if self.resume_in else []
        if last and int(env.get(_RESTARTS, "0")) > 0:  # a resumed run continues in its own directory: no --output
            argv = [*without_option(argv, "--output"), "--resume", str(last[-1])]
        return [sys.executable, "-m", "dnn_suite", *argv]

    def __call__(self) -> int:
        env = dict(os.environ)
        env[IN_JOB] = env.get("SLURM_JOB_ID", "1")
        if int(env.get("SLURM_NTASKS", "1")) > 1:
            env.update(torch_environment(env))
        code = subprocess.call(self.command(env), env=env, stdin=subprocess.DEVNULL)
        if code:
            raise SystemExit(code if code > 0 else 128 - code)
        return code
