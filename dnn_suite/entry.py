"""The ``dnn-suite`` console script.

``analyze`` is answered by :mod:`dnn_suite.analyzing` with the built-in analyzers, without
importing torch or loading the model plugins (a fraction of a second instead of several);
everything else, and ``analyze`` of what only a third-party plugin reads, goes to
:mod:`dnn_suite.cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dnn_suite import analyzing, command


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    with command.warnings_for_users(debug="--debug" in argv):
        if "analyze" in argv:
            code = command.guarded(lambda: analyzing.main_builtin(argv), debug="--debug" in argv)
            if code is not None:
                return code
        from dnn_suite.cli import main as full_command_line

        return full_command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
