"""``--log-to mlflow``: the finished run as an MLflow run.

Its settings become params, the environment tags, the run's figures metrics (``throughput``,
``step_time_s.median``, ...) and its per-window and per-step series metrics with their history
(``window/throughput``, ``step/step_s``, ``step/loss``), the run directory's files artefacts; the
run ends FINISHED, FAILED or KILLED as the run did. Where: ``log_options.mlflow.tracking_uri``,
else ``$MLFLOW_TRACKING_URI`` (MLflow's own convention), else a SQLite store in
``OUTPUT/mlflow/`` (MLflow's file store refuses new runs since MLflow 3.x). MLflow is reached
through its client (``MlflowClient``), never its process-wide active run, so nothing is left
changed in the caller.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from dnn_suite.context import RunContext
from dnn_suite.errors import UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.logged_run import LoggedRun
from dnn_suite.options import Option
from dnn_suite.registry import LoggerSpec
from dnn_suite.reporting.install_hint import extra_install_command

NAME = "mlflow"
#: the output directory's folder of the default store: mlflow.db and artifacts/
LOCAL_STORE = "mlflow"
#: how a dnn-suite status ends an MLflow run
RUN_STATUS = {"ok": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
#: MLflow's limits: entries per log_batch request, characters of a param's and a tag's value
PARAMS_PER_REQUEST, TAGS_PER_REQUEST, METRICS_PER_REQUEST = 100, 100, 1000
PARAM_LENGTH, TAG_LENGTH = 6000, 5000
#: what MLflow's SQLite store needs beyond the client
DATABASE_PACKAGES = ("sqlalchemy", "alembic")


@hookimpl
def dnn_suite_register_loggers(register):
    register(LoggerSpec(NAME, "an MLflow run: settings as params, environment as tags, figures and per-step "
                              "series as metrics, the run directory as artefacts", options=(
        Option("tracking_uri", "", "the tracking server or store (http://HOST:5000, sqlite:///PATH.db); "
                                   f"empty: $MLFLOW_TRACKING_URI, else a SQLite store in OUTPUT/{LOCAL_STORE}/"),
        Option("experiment", "dnn-suite", "the experiment the runs are logged in (created when missing)"),
    )))


def tracking_uri(run: RunContext) -> str:
    given = run.config.log_options.get(NAME, {}).get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    return given or "sqlite:///" + str(Path(run.config.output).resolve() / LOCAL_STORE / "mlflow.db")


@hookimpl
def dnn_suite_logger_preflight(run: RunContext) -> None:
    needed = ("mlflow", *(DATABASE_PACKAGES if tracking_uri(run).startswith("sqlite:") else ()))
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"--log-to {NAME} needs {' and '.join(missing)}, an optional extra: "
                         f"{extra_install_command(NAME)}")


@hookimpl
def dnn_suite_log_run(run: RunContext, logged: LoggedRun) -> tuple[str, dict[str, Any]]:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(run)
    with _quiet():
        client = MlflowClient(tracking_uri=uri)
        experiment_id = _experiment(client, run.config.log_options.get(NAME, {}).get("experiment", "dnn-suite"), uri)
        run_id = client.create_run(experiment_id, run_name=logged.name).info.run_id
        now = int(time.time() * 1000)
        params = [Param(key, value[:PARAM_LENGTH]) for key, value in logged.params.items()]
        tags = [RunTag(key, value[:TAG_LENGTH]) for key, value in logged.tags.items()]
        metrics = [Metric(key, value, now, 0) for key, value in logged.summary.items()]
        metrics += [Metric(key, value, now, step) for key, step, value in logged.series]
        for chunk in _chunks(params, PARAMS_PER_REQUEST):
            client.log_batch(run_id, params=chunk)
        for chunk in _chunks(tags, TAGS_PER_REQUEST):
            client.log_batch(run_id, tags=chunk)
        for chunk in _chunks(metrics, METRICS_PER_REQUEST):
            client.log_batch(run_id, metrics=chunk)
        for relative in logged.artefacts:
            folder = str(Path(relative).parent)
            client.log_artifact(run_id, str(logged.run_dir / relative), None if folder == "." else folder)
        client.set_terminated(run_id, RUN_STATUS.get(logged.status, "FAILED"))
    return NAME, {"tracking_uri": uri, "experiment_id": experiment_id, "run_id": run_id}


def _experiment(client: Any, name: str, uri: str) -> str:
    """The experiment's id, created when missing; a SQLite store's artefacts go next to its database
    (MLflow's default would be ./mlruns under whatever directory the run was started from)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri[len("sqlite:///"):]).parent / "artifacts").resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's INFO lines (creating the database's tables) left out of the run's output."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
