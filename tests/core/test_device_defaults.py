"""Defaults chosen per device and recorded in run.json: data-loader settings (dnn_suite/run/loader_settings.py)
and torch's TF32 / cuDNN switches (dnn_suite/run/backends.py)."""

from __future__ import annotations

import json
import os

import pytest
import torch

from dnn_suite.run import backends
from dnn_suite.settings.resolve import RunConfig
from dnn_suite.run.loader_settings import MAX_CUDA_WORKERS, loader_settings, usable_cores


def test_cpu_loader_defaults_are_unchanged():
    settings = loader_settings(None, torch.device("cpu"))
    assert settings["workers"] == 2 and settings["pin_memory"] is False
    assert settings["prefetch_factor"] == 2 and settings["persistent_workers"] is True
    assert settings["workers_from"] == "default for cpu"


def test_cuda_loader_defaults_follow_the_usable_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    settings = loader_settings(None, torch.device("cuda"))
    assert settings["workers"] == MAX_CUDA_WORKERS == 8
    assert settings["pin_memory"] is True and settings["prefetch_factor"] == 4
    assert settings["usable_cores"] == 16
    assert loader_settings(None, torch.device("cuda"), processes=4)["workers"] == 3  # 16 cores / 4, one left
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert loader_settings(None, torch.device("cuda"))["workers"] == 1


def test_an_explicit_worker_count_wins_and_zero_means_no_prefetch():
    settings = loader_settings(0, torch.device("cuda"))
    assert settings["workers"] == 0 and settings["prefetch_factor"] is None
    assert settings["persistent_workers"] is False and settings["workers_from"] == "--workers"
    assert loader_settings(5, torch.device("cpu"))["workers"] == 5


def test_usable_cores_is_this_process_affinity():
    assert usable_cores() == len(os.sched_getaffinity(0))


@pytest.fixture
def restore_backends():
    saved = backends.effective()
    yield
    backends.configure(RunConfig("m", "v", "d", 1, tf32=saved["tf32_matmul"],
                                 cudnn_benchmark=saved["cudnn_benchmark"]))


@pytest.mark.parametrize("tf32,autotune", [(False, True), (True, False)])
def test_backends_are_set_and_read_back(restore_backends, tf32, autotune):
    effective = backends.configure(RunConfig("m", "v", "d", 1, tf32=tf32, cudnn_benchmark=autotune))
    assert effective["tf32_matmul"] is tf32 and effective["tf32_cudnn_conv"] is tf32
    assert effective["cudnn_benchmark"] is autotune and torch.backends.cudnn.benchmark is autotune
    assert effective == backends.effective()


def test_run_json_records_backends_and_loader(tiny_plugin, cli, tmp_path, restore_backends):
    result = cli("run", "tiny", "--output", tmp_path, "--iterations", "1", "--tf32", "--no-cudnn-benchmark", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["backends"]["tf32_matmul"] is True and document["backends"]["tf32_cudnn_conv"] is True
    assert document["backends"]["cudnn_benchmark"] is False
    assert document["data_loader"]["workers"] == 2 and document["config"]["workers"] is None
    default = json.loads(cli("run", "tiny", "--output", tmp_path, "--iterations", "1", "--workers", "0",
                             "--json").out)
    assert default["backends"]["tf32_matmul"] is False and default["backends"]["tf32_cudnn_conv"] is False
    assert default["backends"]["cudnn_benchmark"] is True and default["data_loader"]["workers"] == 0
