"""How every command ends: its exit code, and one line on stderr for what went wrong.

Exit codes: 0 ok, 1 the run itself failed (recorded in run.json), 2 bad usage or input,
130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM (both handled alike, see signals.py).
Errors are one line on stderr; ``--debug`` shows the traceback. Shared by the full command
line (:mod:`dnn_suite.cli`) and the light ``analyze`` path (:mod:`dnn_suite.analyzing`).
"""

from __future__ import annotations

import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from dnn_suite import signals
from dnn_suite.errors import DnnSuiteError, one_line, reason


#: ``dnn-suite _child RUN_DIR``: the re-run of a benchmark under a launcher profiler's tool (internal, not
#: among the commands the CLI lists)
CHILD_COMMAND = "_child"
Answer = TypeVar("Answer", bound="int | None")
#: warnings that speak to a library's programmers (an API going away), not to the user of the suite
PROGRAMMER_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


@contextmanager
def warnings_for_users(debug: bool) -> Iterator[None]:
    """Python warnings said as one line each, ``dnn-suite: warning: MESSAGE``, without the source
    line Python prints; deprecation warnings of libraries (``torch.jit.script is deprecated``)
    are not shown at all, the suite's own are. ``--debug`` leaves Python's warnings as they are.
    Everything is restored on the way out."""
    if debug:
        yield
        return
    said: set[str] = set()

    def say_once(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: object = None, line: str | None = None) -> None:
        """Each text once: Python's own once-per-place registry is cleared whenever any library
        changes the warning filters, as several do while a model is built."""
        text = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
        if text not in said:
            said.add(text)
            print(f"dnn-suite: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        for category in PROGRAMMER_WARNINGS:
            warnings.filterwarnings("ignore", category=category)
            warnings.filterwarnings("default", category=category, module=r"dnn_suite")
        warnings.showwarning = say_once
        yield


def guarded(body: Callable[[], Answer], debug: bool) -> Answer | int:
    """``body()``'s answer (an exit code), or the documented code for the error it raised, said
    in one line."""
    try:
        return body()
    except DnnSuiteError as exc:
        if debug:
            traceback.print_exc()
        print(f"dnn-suite: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"dnn-suite: {signals.reason()}", file=sys.stderr)
        return signals.exit_code()
    except OSError as exc:  # a file that could not be read or written where no check caught it first
        if debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"dnn-suite: error: {where}{reason(exc)} (run with --debug for the traceback)", file=sys.stderr)
        return 1
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if debug:
            traceback.print_exc()
        print(f"dnn-suite: internal error: {one_line(exc)} (a bug: run with --debug for the traceback and report it)",
              file=sys.stderr)
        return 1
