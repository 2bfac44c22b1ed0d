"""The command-line flags of run settings and model options, derived from their declarations.

A run setting with a :class:`~dnn_suite.settings.declared.Flag` becomes a flag of the commands it names
(``warmup`` -> ``--warmup``), checked as suite.yaml checks it; a model option declared with
``flag=True`` becomes a flag (``image_size`` -> ``--image-size``) of every model declaring it, or
with ``dnn-suite run MODEL --help`` of that model alone. :func:`flag_layer` turns what was given
back into a configuration layer.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from dnn_suite.options import Option
from dnn_suite.registry import ModelSpec, Registry
from dnn_suite.settings import sweep_axes
from dnn_suite.settings.declared import USER_SETTINGS, Setting
from dnn_suite.value_types import Boolean, Mapping, Text, ValueType


def checked(value_type: ValueType) -> Callable[[str], Any]:
    """An argparse type: the flag's text parsed and checked as ``value_type`` says."""
    def convert(text: str) -> Any:
        try:
            value = value_type.parse(text)
        except ValueError:
            value = None
        if value is None or not value_type.accepts(value):
            raise argparse.ArgumentTypeError(f"expected {value_type.expected}, got {text!r}")
        return value

    return convert


def _sweep(single: Callable[[str], Any]) -> Callable[[str], Any]:
    """``8`` is one value; ``1,2,4,8`` a sweep, each value checked (and run in its own process)."""
    def convert(text: str) -> Any:
        return [single(part) for part in text.split(",")] if "," in text else single(text)

    return convert


def _setting_help(setting: Setting) -> str:
    shown = setting.default not in (None, [], {}) and not isinstance(setting.type, Boolean)
    default = f" (default: {setting.default})" if shown else ""
    on = " (default: on)" if setting.default is True else ""
    repeated = " (repeat the flag or comma-separate)" if setting.flag and setting.flag.repeated else ""
    return setting.help + default + on + repeated


def add_setting_flags(group: Any, command: str, *, distributed: bool) -> None:
    """The flags of the run settings that ``command`` offers (:mod:`dnn_suite.settings.declared`), those marked
    ``distributed`` or the others, added to ``group`` (a parser or an argument group)."""
    exclusive: dict[str, Any] = {}
    for setting in USER_SETTINGS.values():
        flag = setting.flag
        if flag is None or command not in flag.commands or flag.distributed != distributed:
            continue
        target = group
        if flag.exclusive:
            if flag.exclusive not in exclusive:
                exclusive[flag.exclusive] = group.add_mutually_exclusive_group()
            target = exclusive[flag.exclusive]
        value_type = setting.type
        options: dict[str, Any] = {"dest": setting.name, "help": _setting_help(setting), "default": None}
        if flag.metavar:
            options["metavar"] = flag.metavar
        if flag.const is not None:  # the flag alone stands for this value
            options.update(nargs="?", const=flag.const)
        if isinstance(value_type, Boolean):
            options["action"] = argparse.BooleanOptionalAction
        elif isinstance(value_type, Text) and value_type.choices:
            options.update(type=checked(value_type), metavar="{" + ",".join(value_type.choices) + "}")
        elif flag.repeated:
            options["action"] = "append"
        elif flag.sweep:
            options["type"] = _sweep(checked(value_type))
        else:
            options["type"] = checked(value_type)
        target.add_argument(setting.flag_name, **options)


def _flag_help(option: Option, specs: list[ModelSpec], command: str) -> str:
    """One model's help and default; several models' shared help, or a pointer at each one's own
    (``command``: ``dnn-suite run``)."""
    texts = {_option_of(spec, option.name).help for spec in specs}
    if len(specs) == 1:
        return f"{option.help} ({specs[0].name}; default {option.default})"
    names = ", ".join(spec.name for spec in specs[:2]) + (", ..." if len(specs) > 2 else "")
    per_model = f"`{command} MODEL --help`"
    if len(texts) == 1:
        return f"{texts.pop()} ({len(specs)} models: {names}; each one's default in {per_model})"
    return f"an option of {len(specs)} models ({names}); its meaning and default for each in {per_model}"


def _option_of(spec: ModelSpec, name: str) -> Option:
    return next(option for option in spec.options if option.name == name)


def _flag_type(option: Option) -> Callable[[str], Any]:
    """Parse a model option flag's text as the option's type (its full check comes with the model's, in resolve)."""
    def convert(text: str) -> Any:
        try:
            return option.value_type.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected {error}, got {text!r}") from None

    return convert


def add_model_flags(parser: argparse.ArgumentParser, registry: Registry, model: ModelSpec | None) -> None:
    """Flags of the model options declared with ``flag=True``, e.g. ``--image-size``: every model's, or with
    ``model`` (``dnn-suite run MODEL --help``) that model's alone, with its own help and defaults."""
    declaring: dict[str, list[ModelSpec]] = {}
    first: dict[str, Option] = {}
    for entry in registry.models.values():
        spec = entry.spec
        assert isinstance(spec, ModelSpec)
        if model is None or spec is model:
            for option in spec.options:
                if option.flag:
                    declaring.setdefault(option.name, []).append(spec)
                    first.setdefault(option.name, option)
    for name, specs in declaring.items():
        option = first[name]
        dest = f"model_option:{name}"
        if isinstance(option.default, bool):
            parser.add_argument(option.flag_name, dest=dest, action=argparse.BooleanOptionalAction,
                                default=None, help=_flag_help(option, specs, parser.prog))
        else:
            parser.add_argument(option.flag_name, dest=dest, type=_flag_type(option), default=None, metavar="VALUE",
                                help=_flag_help(option, specs, parser.prog))


def flag_layer(args: argparse.Namespace, layer: dict[str, Any]) -> dict[str, Any]:
    """The command line's settings added to ``layer`` (its ``--set`` pairs): a configuration layer of what was given."""
    for setting in USER_SETTINGS.values():
        flag, value = setting.flag, getattr(args, setting.name, None)
        if flag is None or value is None:
            continue
        if isinstance(setting.type, Mapping):  # the sweep's flag: KEY=V1,V2 pairs, one per key
            layer[setting.name] = sweep_axes.parse_flags(value)
            continue
        if flag.repeated:
            value = [part for given in value for part in given.split(",") if part]
        if flag.sweep and isinstance(value, list):
            layer[flag.sweep] = value
        elif value != []:
            layer[setting.name] = value
    options = {k.split(":", 1)[1]: v for k, v in vars(args).items() if k.startswith("model_option:") and v is not None}
    if options:
        layer["model_options"] = {**layer.get("model_options", {}), **options}
    return layer
