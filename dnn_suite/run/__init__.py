"""The run machinery: a benchmark run's protocol and life (:mod:`.runner`, :mod:`.timing`, the run
directory and its records: :mod:`.output_dir`, :mod:`.runstate`, :mod:`.statistics`,
:mod:`.summary_table`, the machine's load and what it does to the numbers:
:mod:`.machine_load`, :mod:`.measurement_quality`), the commands that run a model besides it
(``train`` and ``eval``: :mod:`.train_eval`, :mod:`.resume`, :mod:`.checkpoint_settings`),
sweeps and the jobs of an executor (:mod:`.sweep`, :mod:`.jobs`), and what a run sets up and
records of the machine (:mod:`.backends`, :mod:`.allocator`, :mod:`.loader_settings`,
:mod:`.environment`)."""

import sys
from types import ModuleType
from typing import Any


class _CallablePackage(ModuleType):
    """``dnn_suite.run`` is this package and, called, the Python API's :func:`dnn_suite.api.run`: a
    function of that name in ``dnn_suite`` would be replaced by the package whenever the package is
    imported (Python sets a package's subpackages as its attributes)."""

    def __call__(self, model: str, **settings: Any) -> Any:
        from dnn_suite.api import run

        return run(model, **settings)


sys.modules[__name__].__class__ = _CallablePackage
