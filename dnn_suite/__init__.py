"""dnn-suite: training benchmarks for deep neural networks.

The Python API (docs/python-api.md) is imported on first use, so that ``import dnn_suite`` stays
light (no torch): ``dnn_suite.run(model, **settings)``, ``load_run(path)``, ``analyze(path)``,
``compare(*paths)``, ``results(*paths)``; their result types ``RunResult`` and ``Comparison``; bad input raises
``dnn_suite.UsageError`` (:class:`dnn_suite.errors.UsageError`).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: the API's names and the module each comes from; ``run`` is the package dnn_suite.run, which called
#: is :func:`dnn_suite.api.run` (see dnn_suite/run/__init__.py)
_API = {"load_run": "api", "analyze": "api", "compare": "api", "results": "api", "RunResult": "api",
        "Comparison": "api", "UsageError": "errors"}
__all__ = ["__version__", "run", *_API]


def __getattr__(name: str) -> Any:
    from importlib import import_module

    if name == "run":
        return import_module("dnn_suite.run")
    if name not in _API:
        raise AttributeError(f"module 'dnn_suite' has no attribute {name!r}")
    return getattr(import_module(f"dnn_suite.{_API[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), "run", *_API])
