"""The two ways an analyzer can refuse a file.

* :class:`InvalidProfileFile` (a :class:`~dnn_suite.errors.UsageError`, exit 2): the file is
  missing, unreadable, or not the format the analyzer reads. When a profiler plugin analyzes
  the file its own tool just wrote, this is a failed run rather than bad usage: the plugin
  catches it and raises :class:`~dnn_suite.errors.RunFailed` from it.
* :class:`ProfilerToolError` (a :class:`~dnn_suite.errors.RunFailed`, exit 1): the file is a
  well-formed record of a profiler run that failed (no permission for the performance
  counters, nothing profiled, ...). The same holds whether the file comes from a run in
  progress or is handed to ``dnn-suite analyze`` later: the input is fine, the run was not,
  and the message says how to fix the run.
"""

from __future__ import annotations

from pathlib import Path

from dnn_suite.errors import RunFailed, UsageError


class InvalidProfileFile(UsageError):
    """A profiler output file that cannot be read as the expected format."""

    def __init__(self, path: Path, problem: str, expected: str) -> None:
        super().__init__(f"{path}: {problem}; expected {expected}")
        self.path = path


class ProfilerToolError(RunFailed):
    """The profiler's output says the profiler itself failed."""

    def __init__(self, tool: str, path: Path, problem: str, fix: str) -> None:
        super().__init__(f"{tool} failed ({path}): {problem.rstrip('.')}. {fix}")
        self.tool = tool
        self.path = path
