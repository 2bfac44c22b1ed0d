"""The torchvision plugin's families and EfficientDet's build module implement their declared
interfaces (ModelFamily, the core's ModelBuilder): every function, with the declared parameters."""

from __future__ import annotations

import inspect

import pytest

from dnn_suite.training.builder import ModelBuilder
from dnn_suite_efficientdet import build as efficientdet_build
from dnn_suite_torchvision.family import ModelFamily
from dnn_suite_torchvision.plugin import FAMILIES


def _members(protocol: type) -> list[str]:
    return sorted(name for name in dir(protocol) if not name.startswith("_") and callable(getattr(protocol, name)))


def _mismatches(implementation: object, protocol: type) -> list[str]:
    """The protocol's functions that ``implementation`` lacks or takes other parameters for."""
    wrong = []
    for name in _members(protocol):
        declared = list(inspect.signature(getattr(protocol, name)).parameters)[1:]  # without self
        function = getattr(implementation, name, None)
        if function is None or list(inspect.signature(function).parameters) != declared:
            wrong.append(name)
    return wrong


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.__name__.rsplit(".", 1)[-1])
def test_each_family_implements_the_family_interface(family):
    assert isinstance(family, ModelFamily)
    assert _mismatches(family, ModelFamily) == []


def test_efficientdet_builds_through_the_core_interface():
    assert isinstance(efficientdet_build, ModelBuilder)
    assert _mismatches(efficientdet_build, ModelBuilder) == []


def test_a_missing_or_misshapen_function_is_found():
    class Partial:
        def names(self):
            return set()

        def check_config(self, run, extra):
            pass

    assert "build_model" in _mismatches(Partial(), ModelFamily)
    assert "check_config" in _mismatches(Partial(), ModelFamily)
    assert not isinstance(Partial(), ModelFamily)
