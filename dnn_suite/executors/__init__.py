"""Where the suite's processes run: here, one after the other (``local``, the default), or as jobs
of a cluster's scheduler (``slurm``, through submitit).

An executor runs *tasks*: command lines of the suite itself (``python -m dnn_suite ARGS``), such as
the points of a sweep. Both executors have one interface: :meth:`Executor.submit` hands over the
tasks and returns their jobs, :meth:`Executor.wait` waits for one job's end and
:meth:`Executor.states` asks how the jobs stand. The local executor is a queue with one slot: a job
runs when it is waited for, so a sweep's points run in turn, in this process's session, as they always
have. A scheduler's executor is *detached*: ``submit`` returns as soon as the scheduler has the jobs,
and ``dnn-suite status`` asks it later. Nothing else in the suite knows a scheduler.
"""

from __future__ import annotations

import os
from typing import Any

from dnn_suite.executors.base import ACTIVE, IN_JOB, NAMES, Executor, Job, JobState, Task
from dnn_suite.executors.local import LocalExecutor
from dnn_suite.executors.slurm import SlurmExecutor

__all__ = ["ACTIVE", "IN_JOB", "NAMES", "Executor", "Job", "JobState", "Task", "chosen", "executor"]


def chosen(name: str) -> str:
    """The executor to use for ``--executor name``: ``local`` inside a scheduler's job."""
    return "local" if os.environ.get(IN_JOB) else name


def executor(name: str, settings: dict[str, Any], poll_s: float = 10.0) -> Executor:
    """The executor ``name`` (one of :data:`NAMES`) with its settings (``slurm``: see
    :data:`dnn_suite.executors.slurm.SETTINGS`); a scheduler's executor asks every ``poll_s`` while waiting."""
    if name == "local":
        return LocalExecutor()
    return SlurmExecutor(settings, poll_s)
