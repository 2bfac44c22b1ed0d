"""The published JSON Schemas of suite.yaml and run.json, derived from the run settings' declarations.

``dnn-suite schema suite`` and ``dnn-suite schema run`` print them; the copies in
``docs/reference/`` are these, and a test keeps them equal. Plugin options are not in them:
which exist depends on the installed plugins (``dnn-suite list --json`` lists them).
"""

from __future__ import annotations

from typing import Any

from dnn_suite.settings.declared import SETTINGS, USER_SETTINGS, Setting

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: how a benchmark run ends (run.json's ``status``); ``running`` while it runs
STATUSES = ("running", "ok", "failed", "interrupted")


def _property(setting: Setting, *, recorded: bool) -> dict[str, Any]:
    """A setting's schema: as a user gives it, or as run.json records it (``recorded``: null where it may be)."""
    schema = setting.type.schema()
    if recorded and setting.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "description": setting.help}


def _settings(*, with_model: bool) -> dict[str, Any]:
    properties = {name: _property(s, recorded=False) for name, s in USER_SETTINGS.items()
                  if with_model or name != "model"}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def suite_schema() -> dict[str, Any]:
    """suite.yaml: ``defaults`` (every run setting but the model) and ``benchmarks`` (named entries, each with a
    model or a sweep over models)."""
    entry = _settings(with_model=True)
    entry["anyOf"] = [{"required": ["model"]},
                      {"required": ["sweep"], "properties": {"sweep": {"type": "object", "required": ["model"]}}}]
    return {
        "$schema": DRAFT,
        "title": "dnn-suite suite.yaml",
        "description": "Defaults and named benchmarks; later layers win: the model's defaults, defaults, the "
                       "benchmark entry, then command-line flags and --set.",
        "type": ["object", "null"],
        "properties": {
            "defaults": {"anyOf": [{"$ref": "#/$defs/defaults"}, {"type": "null"}]},
            "benchmarks": {"anyOf": [{"type": "object", "additionalProperties": {"$ref": "#/$defs/benchmark"}},
                                     {"type": "null"}]},
        },
        "additionalProperties": False,
        "$defs": {"defaults": _settings(with_model=False), "benchmark": entry},
    }


def _object(description: str, nullable: bool = False) -> dict[str, Any]:
    return {"type": ["object", "null"] if nullable else "object", "description": description}


def run_schema() -> dict[str, Any]:
    """run.json of ``dnn-suite run``: the resolved configuration exactly, the rest by its keys."""
    config = {
        "type": "object",
        "properties": {name: _property(s, recorded=True) for name, s in SETTINGS.items()},
        "required": list(SETTINGS),
        "additionalProperties": False,
    }
    return {
        "$schema": DRAFT,
        "title": "dnn-suite run.json",
        "description": "The record of one benchmark run (`dnn-suite run`), written while it runs and when it ends.",
        "type": "object",
        "properties": {
            "schema_version": {"const": 1},
            "dnn_suite_version": {"type": "string"},
            "status": {"enum": list(STATUSES)},
            "error": {"type": ["string", "null"], "description": "why the run failed or was interrupted"},
            "started_at": {"type": "string"},
            "finished_at": {"type": ["string", "null"]},
            "command": {"type": "array", "items": {"type": "string"}, "description": "the command line"},
            "config": {"$ref": "#/$defs/config"},
            "model": _object("the model's name, variant and the plugin that offers it"),
            "device": {"type": "string"},
            "run_dir": {"type": "string"},
            "metrics": _object("throughput, step times, memory (null until the run ends)", nullable=True),
            "profilers": _object("each profiler's metrics, artefacts or error"),
            "evaluation": _object("the model's evaluation metrics (null without evaluation)", nullable=True),
            "loggers": _object("where each --log-to logger sent the run (e.g. MLflow's run_id), or its error"),
            "environment": _object("software and hardware (`dnn-suite env`)"),
        },
        "required": ["schema_version", "dnn_suite_version", "status", "error", "started_at", "finished_at",
                     "config", "model", "device", "metrics", "profilers"],
        "$defs": {"config": config},
    }


SCHEMAS = {"suite": suite_schema, "run": run_schema}
