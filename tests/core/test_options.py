"""Typed plugin options: each option's declaration checks its values, names them in errors and
rejects a default it does not accept; the core resolves a plugin's options from them."""

from __future__ import annotations

import pytest

from dnn_suite.errors import UsageError
from dnn_suite.options import Option, resolve_options
from dnn_suite.registry import ModelSpec, ProfilerSpec
from dnn_suite.value_types import Integer, ListOf, Nullable, Number, OneOf, Satisfying, Text

OPTIONS = (
    Option("interval_ms", 100, "sampling interval", Integer(minimum=1)),
    Option("ratio", 0.5, "a share", Number(minimum=0, below=1)),
    Option("mode", "fast", "how", Text(choices=("fast", "exact"))),
    Option("wait", None, "iterations to wait (null: automatic)", Nullable(Integer(minimum=0))),
    Option("classes", None, "class names", Nullable(OneOf((ListOf(Text()), Text())))),
    Option("sizes", [], "two or more sizes", Satisfying(ListOf(Integer(minimum=1)), lambda v: len(set(v)) != 1,
                                                        expected="a list of two or more sizes (or [])")),
    Option("lr", 0.1, "learning rate"),
    Option("deep", False, "a switch"),
)


def test_defaults_when_nothing_is_given():
    assert resolve_options("profiler p", OPTIONS, {}) == {
        "interval_ms": 100, "ratio": 0.5, "mode": "fast", "wait": None, "classes": None, "sizes": [], "lr": 0.1,
        "deep": False}


def test_given_values_are_checked_and_converted():
    given = {"interval_ms": 5, "ratio": 0, "mode": "exact", "wait": 3, "classes": "cat,dog", "sizes": [2, 4],
             "lr": 1, "deep": True}
    resolved = resolve_options("profiler p", OPTIONS, given)
    assert resolved == {**given, "ratio": 0.0, "lr": 1.0}
    assert isinstance(resolved["lr"], float) and isinstance(resolved["ratio"], float)
    assert resolve_options("profiler p", OPTIONS, {"classes": ["cat", "dog"]})["classes"] == ["cat", "dog"]


@pytest.mark.parametrize(("given", "message"), [
    ({"interval_ms": 0}, "profiler p option 'interval_ms': expected a positive integer, got 0"),
    ({"interval_ms": 2.5}, "profiler p option 'interval_ms': expected a positive integer, got 2.5"),
    ({"interval_ms": True}, "profiler p option 'interval_ms': expected a positive integer, got True"),
    ({"ratio": 1}, "profiler p option 'ratio': expected a number >= 0 and < 1, got 1.0"),
    ({"mode": "slow"}, "profiler p option 'mode': expected one of fast, exact, got 'slow'"),
    ({"wait": -1}, "profiler p option 'wait': expected an integer >= 0 or null, got -1"),
    ({"classes": 3}, "profiler p option 'classes': expected a list of a string or a string or null, got 3"),
    ({"sizes": [4]}, "profiler p option 'sizes': expected a list of two or more sizes (or []), got [4]"),
    ({"sizes": [4, 0]}, "profiler p option 'sizes': expected a list of two or more sizes (or []), got [4, 0]"),
    ({"lr": "fast"}, "profiler p option 'lr': expected float, got 'fast'"),
    ({"lr": None}, "profiler p option 'lr': expected float, got None"),
    ({"deep": "yes"}, "profiler p option 'deep': expected bool, got 'yes'"),
    ({"speed": 1}, "profiler p: unknown option 'speed' (allowed: classes, deep, interval_ms, lr, mode, ratio, "
                   "sizes, wait)"),
])
def test_bad_values_name_the_option_and_what_it_takes(given, message):
    with pytest.raises(UsageError) as error:
        resolve_options("profiler p", OPTIONS, given)
    assert str(error.value) == message


def test_a_default_the_option_refuses_is_a_broken_declaration():
    with pytest.raises(ValueError, match="option 'interval_ms': its default 0 is not a positive integer"):
        Option("interval_ms", 0, "sampling interval", Integer(minimum=1))
    with pytest.raises(ValueError, match="declare the option's type"):
        Option("weights", None, "a file")


def test_specs_take_option_declarations_only():
    model = dict(name="m", description="d", variants=("v",), default_variant="v", datasets=("x",),
                 default_dataset="x")
    with pytest.raises(ValueError, match="options must be dnn_suite.options.Option declarations"):
        ModelSpec(**model, options={"lr": 0.1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="option 'lr' is declared twice"):
        ModelSpec(**model, options=(Option("lr", 0.1, "a"), Option("lr", 0.2, "b")))
    with pytest.raises(ValueError, match="only model options get flags"):
        ProfilerSpec(name="p", description="d", measures=(), options=(Option("lr", 0.1, "a", flag=True),))


def test_schemas_state_the_same_rules():
    assert OPTIONS[0].value_type.schema() == {"type": "integer", "minimum": 1}
    assert OPTIONS[1].value_type.schema() == {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    assert OPTIONS[2].value_type.schema() == {"type": "string", "enum": ["fast", "exact"]}
    assert OPTIONS[3].value_type.schema() == {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}


def test_an_option_error_from_the_command_line(tiny_plugin, cli):
    result = cli("run", "tiny", "--set", "model_options.features=0.5")
    assert result.code == 2
    assert result.err.strip().splitlines()[-1] == ("dnn-suite: error: model tiny option 'features': expected int, "
                                                   "got 0.5")
