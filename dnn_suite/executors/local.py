"""The local executor: each task a child process of this one, run when its job is waited for.

The child's stdin and stdout are closed, its stderr goes to the task's log. A stop request
(Ctrl-C, SIGTERM) reaches the child as well, through :func:`dnn_suite.signals.wait_for`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dnn_suite import signals
from dnn_suite.executors.base import Job, JobState, Task


class LocalExecutor:
    detached = False

    def __init__(self) -> None:
        self._ended: dict[str, JobState] = {}

    def submit(self, tasks: list[Task], folder: Path, name: str) -> list[Job]:
        return [Job(f"local-{index}", task.log, task) for index, task in enumerate(tasks, 1)]

    def wait(self, job: Job) -> JobState:
        assert job.task is not None, "a local job runs in the process that submitted it"
        command = [sys.executable, "-m", "dnn_suite", *job.task.argv]
        with open(job.log, "wb") as stderr:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
            code = signals.wait_for(process)
        self._ended[job.job_id] = JobState("COMPLETED" if code == 0 else "FAILED", None, code)
        return self._ended[job.job_id]

    def states(self, jobs: list[Job]) -> dict[str, JobState]:
        return {job.job_id: self._ended.get(job.job_id, JobState("PENDING")) for job in jobs}
