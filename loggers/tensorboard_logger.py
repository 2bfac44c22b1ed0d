"""``--log-to tensorboard``: the finished run as TensorBoard event files in its run directory.

``tensorboard --logdir OUTPUT`` then shows every run under OUTPUT side by side: the per-step
series (``step/step_s``, ``step/loss``, ...) and per-window ones (``window/throughput``) as
scalars, the run's figures as ``run/<name>`` scalars at step 0, its settings and environment as
text, and the settings with the figures in the HParams tab. The writer is torch's
(``torch.utils.tensorboard``), which needs the ``tensorboard`` package.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from dnn_suite.context import RunContext
from dnn_suite.errors import UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.logged_run import LoggedRun
from dnn_suite.registry import LoggerSpec
from dnn_suite.reporting.install_hint import extra_install_command

NAME = "tensorboard"
#: the run directory's folder of event files
LOG_DIR = "tensorboard"


@hookimpl
def dnn_suite_register_loggers(register):
    register(LoggerSpec(NAME, f"TensorBoard event files in the run directory's {LOG_DIR}/: per-step and "
                              "per-window scalars, the run's figures, settings and environment"))


@hookimpl
def dnn_suite_logger_preflight(run: RunContext) -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise UsageError(f"--log-to {NAME} needs the tensorboard package, an optional extra: "
                         f"{extra_install_command(NAME)}")


@hookimpl
def dnn_suite_log_run(run: RunContext, logged: LoggedRun) -> tuple[str, dict[str, Any]]:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    folder = logged.run_dir / LOG_DIR
    figures = {f"run/{name}": value for name, value in logged.summary.items()}
    with SummaryWriter(log_dir=str(folder)) as writer:
        for name, step, value in logged.series:
            writer.add_scalar(name, value, step)
        for name, value in figures.items():
            writer.add_scalar(name, value, 0)
        writer.add_text("settings", _table(logged.params))
        writer.add_text("environment", _table(logged.tags))
        # the HParams tab: the settings against the figures (the scalars above), one row per run
        for summary in hparams(logged.params, figures):
            writer.file_writer.add_summary(summary)
    return NAME, {"log_dir": str(folder)}


def _table(values: dict[str, str]) -> str:
    """A Markdown table, which TensorBoard's text tab renders."""
    rows = [f"| {key} | {value.replace('|', '/')} |" for key, value in values.items()]
    return "\n".join(["| name | value |", "|---|---|", *rows])
