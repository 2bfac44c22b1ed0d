"""Exceptions the CLI turns into exit codes.

Anything raised as :class:`UsageError` is the user's input being wrong: the CLI prints
its message as one line on stderr and exits with code 2 (``--debug`` shows the traceback).
:class:`RunFailed` means the benchmark itself failed; it is recorded in run.json and the
CLI exits with code 1.
"""


class DnnSuiteError(Exception):
    """Base class of every error the suite reports to the user."""

    exit_code = 1


class UsageError(DnnSuiteError):
    """Bad usage or input: a flag, a config key, a file, a dataset, a checkpoint.

    The message must say what is wrong, where (file, key path, line) and what was expected.
    """

    exit_code = 2


class RunFailed(DnnSuiteError):
    """The run started but could not finish (NaN loss, a profiler's tool failing, ...)."""

    exit_code = 1
