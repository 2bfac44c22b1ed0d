"""`dnn-suite list` and `dnn-suite env`."""

from __future__ import annotations

import json


def test_list_json_shows_models_profilers_and_origin(tiny_plugin, cli):
    result = cli("list", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    tiny = next(m for m in data["models"] if m["name"] == "tiny")
    assert tiny["variants"] == ["small", "wide"] and tiny["default_variant"] == "small"
    assert tiny["datasets"] == ["random", "missing"] and tiny["options"]["lr"] == 0.05
    assert tiny["distribution"] == "$DNN_SUITE_PLUGINS"
    cpu = next(p for p in data["profilers"] if p["name"] == "cpu")
    assert cpu["distribution"] == "dnn-suite" and cpu["launcher"] is False and cpu["measures"]


def test_list_text(tiny_plugin, cli):
    result = cli("list")
    assert result.code == 0
    assert "Models" in result.out and "Profilers" in result.out
    assert "variants: small* wide" in result.out


def test_env(cli):
    result = cli("env", "--json")
    assert result.code == 0
    env = json.loads(result.out)
    import torch

    assert env["torch"] == torch.__version__ and env["cuda_available"] == torch.cuda.is_available()
    assert env["cpu_count"] >= 1 and env["python"].count(".") == 2
    text = cli("env").out
    assert "torch" in text and "CPU" in text
