"""Each run setting is declared once (dnn_suite/settings/declared.py): the published schemas and the settings
reference are what the declarations generate, suite.yaml files the loader accepts are exactly those the
schema accepts, and a real run.json fits its schema."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from dnn_suite.settings import reference as settings_doc
from dnn_suite.settings.resolve import load_suite
from dnn_suite.errors import UsageError
from dnn_suite.settings.schema import SCHEMAS
from dnn_suite.settings.declared import SETTINGS, RunConfig

jsonschema = pytest.importorskip("jsonschema")  # the test extra: the schemas' validator

ROOT = Path(__file__).parents[2]
REFERENCE = ROOT / "docs" / "reference"


def _validator(name: str):
    schema = SCHEMAS[name]()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_published_schemas_are_the_generated_ones(cli, name):
    result = cli("schema", name)
    assert result.code == 0
    assert json.loads(result.out) == SCHEMAS[name]()
    published = (REFERENCE / f"{name}.schema.json").read_text(encoding="utf-8")
    assert published == result.out, f"regenerate: dnn-suite schema {name} > docs/reference/{name}.schema.json"


def test_settings_reference_is_the_generated_one():
    page = settings_doc.PAGE.read_text(encoding="utf-8")
    assert settings_doc.render(page) == page, "regenerate: python -m dnn_suite.settings.reference"
    for name in SETTINGS:
        if SETTINGS[name].settable:
            assert f"| `{name}` |" in page


def test_every_field_is_a_declared_setting():
    assert [f.name for f in dataclasses.fields(RunConfig)] == list(SETTINGS)
    assert SETTINGS["duration"].nullable and not SETTINGS["warmup"].nullable
    assert SETTINGS["profilers"].default == [] and RunConfig("m", "v", "d", 1).profilers == []


def _suite_files() -> list[tuple[str, str]]:
    """suite.yaml at the top and the suite files the docs show."""
    files = [("suite.yaml", (ROOT / "suite.yaml").read_text(encoding="utf-8"))]
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for index, block in enumerate(re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), re.S)):
            if re.match(r"(#.*\n)*(defaults|benchmarks):", block):
                files.append((f"{page.relative_to(ROOT)}#{index}", block))
    return files


SUITE_FILES = _suite_files()


@pytest.mark.parametrize(("name", "text"), SUITE_FILES, ids=[name for name, _ in SUITE_FILES])
def test_suite_files_in_the_repository_fit_the_schema(tmp_path, name, text):
    path = tmp_path / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    load_suite(path)
    _validator("suite").validate(yaml.safe_load(text))


@pytest.mark.parametrize("text", [
    "defaults:\n  warmup: 0\n  iterations: 5\n  device: cuda:1\n",
    "defaults:\n  warmup: -1\n",
    "defaults:\n  duration: 0\n",
    "defaults:\n  device: gpu\n",
    "defaults:\n  timing: eager\n",
    "defaults:\n  model: tiny\n",
    "defaults:\n  batchsize: 3\n",
    "defaults:\n  profilers: [cpu, '']\n",
    "defaults:\n  profiler_options: {nvml: {interval_ms: 50}}\n",
    "defaults:\n  profiler_options: {nvml: 5}\n",
    "defaults:\n  batch_sizes: []\n",
    "defaults:\n  seed: true\n",
    "benchmarks:\n  a:\n    model: tiny\n    evaluate: true\n",
    "benchmarks:\n  a:\n    variant: wide\n",
    "benchmarks:\n  a:\n    model: tiny\n    benchmark: other\n",
    "other: 1\n",
    "defaults:\n",
])
def test_the_loader_and_the_schema_accept_the_same_files(tmp_path, text):
    path = tmp_path / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_suite(path)
        loader_accepts = True
    except UsageError:
        loader_accepts = False
    errors = list(_validator("suite").iter_errors(yaml.safe_load(text)))
    assert loader_accepts == (not errors), errors


def test_a_real_run_json_fits_its_schema(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--warmup", "0", "--iterations", "2", "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    document = json.loads((result.run_dir() / "run.json").read_text(encoding="utf-8"))
    validator = _validator("run")
    validator.validate(document)
    assert document["config"]["warmup"] == 0
    broken = dict(document, config={**document["config"], "warmup": -1})
    assert [e.json_path for e in validator.iter_errors(broken)] == ["$.config.warmup"]
