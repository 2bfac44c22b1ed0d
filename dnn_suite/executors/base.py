"""What every executor shares: tasks, jobs, job states and the interface (see :mod:`dnn_suite.executors`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

#: the executors ``--executor`` accepts
NAMES = ("local", "slurm")
#: set by a scheduler's executor in its jobs' processes: there the suite runs what it is given
#: instead of submitting it again (a sweep point's suite.yaml still names the scheduler)
IN_JOB = "DNN_SUITE_IN_JOB"
#: a job's state while it waits or runs (the scheduler's words); any other state is an end
ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED")


@dataclass
class Task:
    """One process of the suite to run: ``python -m dnn_suite ARGV``."""

    argv: list[str]
    #: where the local executor writes its stderr (a scheduler's executor keeps its own logs)
    log: Path
    #: the torch environment of a multi-process job: nodes, and processes on each (one task each)
    nodes: int = 1
    processes_per_node: int = 1
    #: the job's own ``--output`` folder, where a requeued ``train`` finds its ``last.pt``
    resume_in: Path | None = None


@dataclass
class Job:
    """A submitted task: its job id and the log that holds its stderr."""

    job_id: str
    log: Path
    task: Task | None = field(default=None, repr=False)


@dataclass
class JobState:
    """How a job stands: the scheduler's state (``COMPLETED``, ``FAILED``, ``TIMEOUT``...), its
    reason (None where it gives none) and the exit code of the job's process, once it ended."""

    state: str
    reason: str | None = None
    exit_code: int | None = None

    @property
    def ended(self) -> bool:
        return self.state not in ACTIVE


class Executor(Protocol):
    #: True where ``submit`` returns at once and the jobs run elsewhere (a scheduler)
    detached: bool

    def submit(self, tasks: list[Task], folder: Path, name: str) -> list[Job]:
        """Hand the tasks over; one job each (a scheduler: one job array). ``folder`` keeps what
        the executor needs later (scripts, logs); ``name`` names the jobs."""

    def wait(self, job: Job) -> JobState:
        """Wait for the job's end (the local executor runs it now)."""

    def states(self, jobs: list[Job]) -> dict[str, JobState]:
        """Every job's state, by job id."""


def without_option(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option VALUE`` and ``option=VALUE``."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return kept
