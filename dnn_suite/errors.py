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


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line.

    An exception raised in a DataLoader worker comes back re-raised with the worker's whole
    traceback in its message; the original message is its last line, after the class name.
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:  # the class name is no message for a user; --debug shows the traceback
        return "failed without a message (run with --debug for the traceback)"
    if len(lines) > 1 and any(line.startswith("Original Traceback") for line in lines):
        name, _, message = lines[-1].partition(": ")
        return message or name
    return " ".join(lines)


def reason(exc: BaseException) -> str:
    """Why ``exc`` happened, in words, for the parentheses of a message: an OSError's text
    without ``[Errno N]`` and the path, a decoding error's byte, else the first line of the
    message; never the exception's class name."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, UnicodeDecodeError):
        return f"byte {exc.start} is not UTF-8 text"
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else "no details given"
