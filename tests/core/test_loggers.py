"""`--log-to mlflow` and `--log-to tensorboard`: runs read back through MLflow's own client and
TensorBoard's own event reader, from real runs of the tiny model (and a short training of resnet18)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import torch

mlflow_client = pytest.importorskip("mlflow.tracking", reason="the mlflow extra is not installed: "
                                    "pip install -e '.[mlflow]'")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                        reason="the tensorboard extra is not installed: pip install -e '.[tensorboard]'")

RUN = ["--warmup", "1", "--iterations", "3", "--repeat", "2", "--batch-size", "4", "--json"]


def _run(cli, tmp_path: Path, *args: str) -> tuple[dict, Path]:
    result = cli("run", "tiny", "--output", tmp_path, *RUN, *args)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    run_dir = Path(document["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["loggers"] == document["loggers"]
    return document, run_dir


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """A SQLite store the tests share: creating its tables takes MLflow seconds."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    mlflow_client.MlflowClient(tracking_uri=uri).search_experiments()
    return uri


def _iterations(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "iterations.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_mlflow_run_read_back_through_its_client(tiny_plugin, cli, tmp_path):
    document, run_dir = _run(cli, tmp_path, "--log-to", "mlflow")
    where = document["loggers"]["mlflow"]
    assert where["tracking_uri"] == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"  # the default local store
    client = mlflow_client.MlflowClient(tracking_uri=where["tracking_uri"])
    logged = client.get_run(where["run_id"])
    assert logged.info.status == "FINISHED" and logged.info.run_name == run_dir.name
    assert client.get_experiment(logged.info.experiment_id).name == "dnn-suite"
    params, tags, metrics = logged.data.params, logged.data.tags, logged.data.metrics
    assert params["model"] == "tiny" and params["variant"] == "small" and params["batch_size"] == "4"
    assert params["model_options.features"] == "16" and params["log_to"] == '["mlflow"]'
    assert tags["environment.torch"] == torch.__version__ and tags["dnn_suite.status"] == "ok"
    assert metrics["throughput"] == pytest.approx(document["metrics"]["throughput"]["value"])
    assert metrics["step_time_s.median"] == pytest.approx(document["metrics"]["step_time_s"]["median"])
    assert metrics["memory.max_rss_bytes"] == document["metrics"]["memory"]["max_rss_bytes"]

    rows = _iterations(run_dir)
    step_times = client.get_metric_history(where["run_id"], "step/step_s")
    assert [(m.step, m.value) for m in sorted(step_times, key=lambda m: m.step)] == [
        (i, pytest.approx(float(row["step_s"]))) for i, row in enumerate(rows)]
    assert len(rows) == 6  # 2 windows of 3 iterations, numbered in the order they ran
    losses = client.get_metric_history(where["run_id"], "step/loss")
    assert sorted(m.value for m in losses) == pytest.approx(sorted(float(row["loss"]) for row in rows))
    windows = client.get_metric_history(where["run_id"], "window/throughput")
    assert {m.step: m.value for m in windows} == {
        w["index"]: pytest.approx(w["throughput"]) for w in document["metrics"]["windows"]}

    assert {a.path for a in client.list_artifacts(where["run_id"])} == {"run.json", "iterations.csv"}
    copy = Path(client.download_artifacts(where["run_id"], "run.json", str(tmp_path / "downloaded")))
    assert json.loads(copy.read_text())["metrics"] == document["metrics"]


def test_mlflow_tracking_uri_and_experiment_from_log_options(tiny_plugin, cli, tmp_path, store):
    document, _ = _run(cli, tmp_path, "--log-to", "mlflow", "--set", f"log_options.mlflow.tracking_uri={store}",
                       "--set", "log_options.mlflow.experiment=resnets")
    where = document["loggers"]["mlflow"]
    assert where["tracking_uri"] == store and not (tmp_path / "mlflow").exists()
    client = mlflow_client.MlflowClient(tracking_uri=where["tracking_uri"])
    experiment = client.get_experiment_by_name("resnets")
    next_to_store = Path(store[len("sqlite:///"):]).parent / "artifacts"
    assert experiment.artifact_location == next_to_store.as_uri()  # not ./mlruns wherever the run started
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [where["run_id"]]


def test_a_failed_run_is_logged_failed(tiny_plugin, cli, tmp_path, store):
    result = cli("run", "tiny", "--output", tmp_path, *RUN, "--log-to", "mlflow", "--set", "model_options.nan_at=2",
                 "--set", f"log_options.mlflow.tracking_uri={store}")
    assert result.code == 1
    document = json.loads(result.out)
    where = document["loggers"]["mlflow"]
    logged = mlflow_client.MlflowClient(tracking_uri=where["tracking_uri"]).get_run(where["run_id"])
    assert logged.info.status == "FAILED" and logged.data.tags["dnn_suite.status"] == "failed"


def test_tensorboard_events_read_back_through_its_reader(tiny_plugin, cli, tmp_path):
    document, run_dir = _run(cli, tmp_path, "--log-to", "tensorboard")
    assert document["loggers"]["tensorboard"] == {"log_dir": str(run_dir / "tensorboard")}
    events = event_accumulator.EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"step/step_s", "step/data_wait_s", "step/loss", "window/throughput", "run/throughput"} <= set(scalars)
    rows = _iterations(run_dir)
    assert [(e.step, e.value) for e in events.Scalars("step/step_s")] == [
        (i, pytest.approx(float(row["step_s"]), rel=1e-6)) for i, row in enumerate(rows)]
    assert [e.step for e in events.Scalars("window/throughput")] == [0, 1]
    assert events.Scalars("run/throughput")[0].value == pytest.approx(document["metrics"]["throughput"]["value"],
                                                                      rel=1e-6)
    settings = events.Tensors("settings/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| batch_size | 4 |" in settings
    assert events.PluginTagToContent("hparams")  # the HParams tab's experiment and session records


def test_train_logs_every_step_and_evaluation(cli, tmp_path, store):
    small = ["--image-size", "32", "--batch-size", "4", "--workers", "0", "--set", "model_options.synthetic_train=8",
             "--set", "model_options.synthetic_val=8"]
    result = cli("train", "resnet18", *small, "--steps", "4", "--log-every", "2", "--eval-every", "2",
                 "--output", tmp_path, "--log-to", "tensorboard", "--log-to", "mlflow", "--set",
                 f"log_options.mlflow.tracking_uri={store}", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    run_dir = Path(document["metrics"]["checkpoint"]).parent.parent
    with open(run_dir / "steps.csv", newline="") as handle:
        steps = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in steps] == [1, 2, 3, 4]
    where = document["loggers"]["mlflow"]
    client = mlflow_client.MlflowClient(tracking_uri=where["tracking_uri"])
    losses = client.get_metric_history(where["run_id"], "step/loss")
    assert sorted((m.step, m.value) for m in losses) == [(int(r["step"]), pytest.approx(float(r["loss"])))
                                                          for r in steps]
    assert sorted(m.step for m in client.get_metric_history(where["run_id"], "eval/top1")) == [2, 4]
    artefacts = {a.path for a in client.list_artifacts(where["run_id"])}
    assert {"train.json", "steps.csv"} <= artefacts and "checkpoints" not in artefacts  # checkpoints stay local
    events = event_accumulator.EventAccumulator(document["loggers"]["tensorboard"]["log_dir"])
    events.Reload()
    assert [e.step for e in events.Scalars("step/lr")] == [1, 2, 3, 4]


def test_a_tracker_out_of_reach_is_a_warning_and_the_run_stands(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--output", tmp_path, *RUN, "--log-to", "mlflow", "--log-to", "tensorboard",
                 "--set", "log_options.mlflow.tracking_uri=nosuch://tracker")
    assert result.code == 0
    document = json.loads(result.out)
    assert document["status"] == "ok" and "nosuch" in document["loggers"]["mlflow"]["error"]
    warning, = [line for line in result.err.splitlines() if "warning: --log-to mlflow failed: " in line]
    assert "Traceback" not in result.err
    assert "log_dir" in document["loggers"]["tensorboard"]  # one failing does not stop the others


def test_a_missing_tracker_package_says_how_to_install_it(tiny_plugin, cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # how Python marks a package as not importable
    result = cli("run", "tiny", "--output", tmp_path, "--log-to", "tensorboard")
    assert result.code == 2 and not list(tmp_path.iterdir())  # refused before anything ran
    line, = result.err.strip().splitlines()
    assert "--log-to tensorboard needs the tensorboard package" in line and "-m pip install" in line
    assert "[tensorboard]" in line


def test_an_unknown_logger_is_refused(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--output", tmp_path, "--log-to", "mlfow")
    assert result.code == 2
    assert "unknown logger 'mlfow'; did you mean 'mlflow'?" in result.err


def test_the_documented_logger_plugin_works(tiny_plugin, cli, tmp_path, monkeypatch):
    """docs/running/logging.md's example of another tracker, as a plugin of its own."""
    page = (Path(__file__).parents[2] / "docs" / "running" / "logging.md").read_text()
    example = page.split("A logger that\nwrites the series as JSON lines")[1].split("```python\n")[1].split("```")[0]
    (tmp_path / "jsonl_logger.py").write_text(example)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DNN_SUITE_PLUGINS", "tiny_model,jsonl_logger")
    document, run_dir = _run(cli, tmp_path / "results", "--log-to", "jsonl")
    assert document["loggers"] == {"jsonl": {"file": str(run_dir / "series.jsonl")}}
    lines = [json.loads(line) for line in (run_dir / "series.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if line["name"] == "step/step_s"] == list(range(6))
