"""The built-in logger plugins (package ``dnn_suite_loggers``): where ``--log-to NAME`` sends a
finished run, one module per tracker, each registered through the ``dnn_suite`` entry-point group
like any third-party plugin.

===========  ==================================================================================
logger       what it writes
===========  ==================================================================================
mlflow       an MLflow run (a local SQLite store under the output directory, or a tracking
             server): settings as params, environment as tags, figures and per-step series as
             metrics, the run directory as artefacts (extra ``mlflow``)
tensorboard  event files in the run directory's ``tensorboard/``: per-step and per-window
             scalars, the figures, settings and environment (extra ``tensorboard``)
===========  ==================================================================================

A logger implements :func:`~dnn_suite.hookspecs.dnn_suite_register_loggers`,
:func:`~dnn_suite.hookspecs.dnn_suite_logger_preflight` (its optional package installed) and
:func:`~dnn_suite.hookspecs.dnn_suite_log_run`, which receives a
:class:`~dnn_suite.logged_run.LoggedRun`; its tracker's package is imported there only, so that
the suite works without it.
"""
