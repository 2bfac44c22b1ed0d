"""Multi-process runs: two CPU processes (gloo) on loopback train the tiny model exactly as one
process with the same global batch, rank 0 reports for both; what cannot run on several
processes is refused before anything starts."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
import torch

from dnn_suite import distributed
from dnn_suite.metrics import readable
from dnn_suite.run.summary_table import format_summary


def _params(folder: Path, rank: int) -> dict[str, torch.Tensor]:
    return torch.load(folder / f"rank{rank}.pt")


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tiny_plugin, cli, tmp_path):
    steps = ("--warmup", "2", "--iterations", "5", "--workers", "0")
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir(), one.mkdir()
    result = cli("run", "tiny", "--nproc-per-node", "2", "--batch-size", "4", *steps, "--output", tmp_path / "ddp",
                 "--json", "--set", f"model_options.params_dir={two}")
    assert result.code == 0, result.err
    single = cli("run", "tiny", "--batch-size", "8", *steps, "--output", tmp_path / "single",
                 "--set", f"model_options.params_dir={one}")
    assert single.code == 0, single.err
    ranks = [_params(two, 0), _params(two, 1)]
    for name, value in ranks[0].items():
        assert torch.equal(value, ranks[1][name]), name  # DDP keeps the replicas identical
        torch.testing.assert_close(value, _params(one, 0)[name], rtol=1e-5, atol=1e-6)

    (run_dir,) = (tmp_path / "ddp").iterdir()  # rank 0 wrote one run directory for both
    document = json.loads((run_dir / "run.json").read_text())
    metrics = document["metrics"]
    world = metrics["distributed"]
    assert (world["world_size"], world["backend"], [r["rank"] for r in world["ranks"]]) == (2, "gloo", [0, 1])
    assert metrics["iterations"] == 5 and metrics["samples"] == 40 == sum(r["samples"] for r in world["ranks"])
    assert metrics["loss"]["last"] < metrics["loss"]["first"]  # it trained
    # throughput = global samples / the slowest rank's window
    assert metrics["window_time_s"] == max(r["window_time_s"] for r in world["ranks"])
    assert metrics["throughput"]["value"] == pytest.approx(40 / metrics["window_time_s"])
    assert all(r["step_time_s"]["median"] > 0 for r in world["ranks"])
    # peak memory: rank 0's, labelled, and the sum over the ranks' processes
    rss = [r["memory"]["max_rss_bytes"] for r in world["ranks"]]
    assert all(value > 0 for value in rss) and metrics["memory"]["rank"] == 0
    assert metrics["memory"]["max_rss_bytes"] == rss[0] and metrics["memory"]["max_rss_bytes_all_ranks"] == sum(rss)
    peak = next(line for line in format_summary(document, run_dir).splitlines() if line.startswith("peak memory"))
    assert f"(rank 0); {readable(sum(rss), 'bytes')} summed over 2 ranks (" in peak
    with open(run_dir / "iterations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((int(r["iteration"]), int(r["rank"])) for r in rows) == [(i, k) for i in range(5) for k in (0, 1)]


@pytest.mark.slow
def test_train_on_two_processes_is_reported_once_by_rank_0(tiny_plugin, cli, tmp_path):
    result = cli("train", "tiny", "--nproc-per-node", "2", "--steps", "3", "--workers", "0", "--output", tmp_path)
    assert result.code == 0, result.err
    (task_dir,) = tmp_path.iterdir()
    document = json.loads((task_dir / "train.json").read_text())
    assert document["status"] == "ok" and document["metrics"]["world_size"] == 2
    assert document["metrics"]["rank"] == 0  # written by rank 0, into the one directory it shared


@pytest.mark.parametrize("flags, message", [
    (("--duration", "1"), "--duration cannot be used with several processes"),
    (("--batch-size", "2,4"), "a batch-size sweep cannot run on several processes"),
    (("--sync-batchnorm", "--device", "cpu"), "--sync-batchnorm needs CUDA"),
    (("--nnodes", "2"), "--nnodes above 1 needs --rdzv-endpoint HOST:PORT"),
])
def test_what_several_processes_cannot_do_is_refused_before_launching(tiny_plugin, cli, flags, message):
    result = cli("run", "tiny", "--nproc-per-node", "2", *flags)
    assert result.code == 2 and message in result.err, result.err


def test_a_launcher_profiler_cannot_profile_several_processes(tiny_plugin, cli):
    result = cli("run", "tiny", "--nproc-per-node", "2", "--profiler", "nsys")
    assert result.code == 2 and "profiler nsys re-runs the program under its tool" in result.err


def test_a_one_process_profiler_is_refused_once_before_launching(tiny_plugin, cli):
    """The memory profiler tracks one process: refused by the launching process, in one line,
    not inside every worker torchrun starts."""
    result = cli("run", "tiny", "--nproc-per-node", "2", "--profiler", "memory")
    assert result.code == 2
    assert result.err == ("dnn-suite: error: profiler memory measures one process; run it without "
                          "--nproc-per-node\n")


def test_the_launch_command_is_torchrun_with_the_same_arguments(monkeypatch):
    commands = []

    class Finished:
        def __init__(self, command):
            commands.append(command)

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", Finished)
    assert distributed.launch(["run", "tiny", "--nproc-per-node", "2"], 2, 1, 0, None) == 0
    assert distributed.launch(["train", "tiny"], 4, 2, 1, "node0:29500") == 0
    one_node, two_nodes = commands
    assert one_node[1:] == ["-m", "torch.distributed.run", "--nproc-per-node=2", "--standalone",
                            "-m", "dnn_suite", "run", "tiny", "--nproc-per-node", "2"]
    assert two_nodes[1:6] == ["-m", "torch.distributed.run", "--nproc-per-node=4", "--nnodes=2", "--node-rank=1"]
    assert two_nodes[6:9] == ["--rdzv-endpoint=node0:29500", "-m", "dnn_suite"]


def test_a_worker_finds_its_place_in_torchruns_environment(monkeypatch):
    assert distributed.World.from_env() == distributed.World(0, 0, 1) and not distributed.in_worker()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.World.from_env() == distributed.World(3, 1, 4) and distributed.in_worker()
