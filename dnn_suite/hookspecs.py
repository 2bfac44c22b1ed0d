"""The whole plugin contract on one page.

A plugin is a module (or any object) with functions decorated by ``@hookimpl`` whose names
match the specifications below. Plugins are found through the ``dnn_suite`` entry-point
group (see :mod:`dnn_suite.plugins`); the built-in EfficientDet model and the profilers are
registered exactly that way. Extra modules can be loaded for one process with the
``DNN_SUITE_PLUGINS`` environment variable (comma-separated import paths).

There are four families of hooks:

*Registration* hooks run once per process on the global plugin manager. Each receives a
``register`` callback; a plugin calls it with a :class:`~dnn_suite.registry.ModelSpec`, a
:class:`~dnn_suite.registry.ProfilerSpec`, a :class:`~dnn_suite.registry.DatasetSpec` or a
:class:`~dnn_suite.registry.LoggerSpec` to declare what it offers. The plugin that calls
``register`` is the one whose hooks serve that model, profiler or logger in a run.

*Model* hooks are called on a run's own plugin manager, which holds the core, the chosen
model's plugin and the chosen profilers only; they are ``firstresult`` hooks, so exactly
one implementation (the model plugin's) answers.

*Profiler* hooks wrap the training loop, each measured window and each iteration
(``wrapper=True``) and contribute metrics and artefacts once the run is over. Launcher
profilers (nvprof, nsys, ncu) also build the command line that re-runs the benchmark under
their tool. Nested, the benchmark loop (``dnn-suite run``) calls them as::

    dnn_suite_training_loop
        dnn_suite_iteration(window=-1, index=0 .. warmup-1)      the warmup iterations
        dnn_suite_measured_window(window=0)
            dnn_suite_iteration(window=0, index=0, 1, ...)      the measured iterations
        dnn_suite_measured_window(window=1)                     with --repeat 2 or more
            ...

An iteration is a train step (:func:`dnn_suite_train_step`), or with ``--scenario inference`` an
inference step (:func:`dnn_suite_inference_step`); with ``--compile`` the warmup goes on until the
compiled model stops recompiling.

Inside an iteration, the core and the model plugins mark its phases (data wait, copy to the
device, forward, loss, backward, optimizer step) as ``torch.profiler`` ranges; the names are
listed in :mod:`dnn_suite.phases`.

*Logger* hooks send a finished run to an experiment tracker (``--log-to mlflow``,
``--log-to tensorboard``): each chosen logger is checked before the run starts and given the
run once its record is final, in the process that owns the run directory.

Every hook receives ``run``, a :class:`~dnn_suite.context.RunContext`: the resolved
configuration, the torch device, the run directory and the run's hook relay.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import pluggy

if TYPE_CHECKING:
    import torch

    from dnn_suite.context import InferenceOutput, RunContext, StepOutput, WindowResult
    from dnn_suite.metrics import Metric
    from dnn_suite.logged_run import LoggedRun
    from dnn_suite.registry import DatasetCheck, DatasetSpec, LoggerSpec, ModelSpec, ProfilerSpec

PROJECT = "dnn_suite"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- registration


@hookspec
def dnn_suite_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Declare the models this plugin offers.

    Implemented by model plugins; called once when plugins are loaded. Call
    ``register(ModelSpec(...))`` once per model: its name, variants and default variant,
    description, the datasets it accepts and its default hyper-parameters (``options``).
    """


@hookspec
def dnn_suite_register_profilers(register: Callable[[ProfilerSpec], None]) -> None:
    """Declare the profilers this plugin offers.

    Implemented by profiler plugins; called once when plugins are loaded. Call
    ``register(ProfilerSpec(...))`` once per profiler: name, aliases, what it measures,
    whether it launches the program under an external tool, what it requires, which other
    profilers it cannot be combined with and its default options.
    """


@hookspec
def dnn_suite_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Declare the datasets ``dnn-suite data download`` can fetch and ``data check`` can check.

    Implemented by plugins that know a dataset's archives and layout (the EfficientDet plugin
    declares VOC2007, VOC2012 and COCO 2017); called once when plugins are loaded. Call
    ``register(DatasetSpec(...))`` once per dataset: its name, the archives (URL, size,
    md5 or sha256, the folder they extract into), the paths the extracted layout must have
    and a ``verify`` function that reads the annotations with the plugin's readers. The core
    downloads (resumable, checksummed), extracts (refusing paths outside the data root) and
    checks; the plugin never touches the network.
    """


@hookspec(firstresult=True)
def dnn_suite_check_dataset(spec: str) -> DatasetCheck | None:
    """Read the dataset a spec outside the catalogue names (``dnn-suite data check voc:DIR``).

    Implemented by plugins that read datasets from a location (the EfficientDet plugin: the
    ``voc:`` and ``coco:`` specs of its ``dataset_schemes``). Return None for a spec that is
    not the plugin's; raise :class:`~dnn_suite.errors.UsageError` naming what is wrong.
    """


# --------------------------------------------------------------------------- model hooks


@hookspec
def dnn_suite_check_config(run: RunContext) -> None:
    """Check, before anything is built or created, that the model can run this configuration.

    Implemented by model plugins with constraints torch would only report mid-run (BatchNorm
    needs more than one value per channel in training: a batch size and input size too small
    for the smallest feature map). Raise :class:`~dnn_suite.errors.UsageError` saying which
    settings clash and what to change. ``run.task["command"]`` is ``"train"`` or ``"eval"``
    for those commands and absent for ``dnn-suite run``.
    """


@hookspec(firstresult=True)
def dnn_suite_build_model(run: RunContext) -> torch.nn.Module:
    """Build the model for ``run.config`` (variant, ``run.options``) on ``run.device``.

    Implemented by model plugins; called once per run before the data and the optimizer.
    Return a ``torch.nn.Module`` already on ``run.device`` and in training mode.
    """


@hookspec(firstresult=True)
def dnn_suite_build_dataloader(run: RunContext, split: str) -> Iterable[Any]:
    """Return an iterable of batches for ``split`` (``"train"`` or ``"eval"``).

    Implemented by model plugins; called once per run for ``"train"`` and, when the run
    evaluates, once for ``"eval"``. The runner re-iterates the train iterable when it is
    exhausted, so a small dataset can feed a long measured window. Batches are opaque to
    the core: they are handed back to :func:`dnn_suite_train_step`. In a multi-process run
    (``run.world_size > 1``) return this rank's share of the ``"train"`` data, e.g. through a
    ``DistributedSampler(dataset, run.world_size, run.rank)``; the core has already wrapped
    the model in DistributedDataParallel.
    """


@hookspec(firstresult=True)
def dnn_suite_build_optimizer(run: RunContext, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Return the optimizer for ``model``.

    Implemented by model plugins; called once per run after the model.
    """


@hookspec(firstresult=True)
def dnn_suite_train_step(
    run: RunContext, model: torch.nn.Module, batch: Any, optimizer: torch.optim.Optimizer
) -> StepOutput:
    """Run one training iteration on ``batch``: move it to the device, forward, loss,
    backward, optimizer step.

    Implemented by model plugins; called for every warmup and measured iteration. Return a
    :class:`~dnn_suite.context.StepOutput` with the loss as a tensor (the runner reads it
    after synchronizing, so the step itself need not force a host-device sync), the number
    of samples in the batch and optional components: loss terms, plotted with the loss, and
    counts (whole numbers at every step, e.g. matched anchors), plotted on their own axis.
    """


@hookspec(firstresult=True)
def dnn_suite_inference_step(run: RunContext, model: torch.nn.Module, batch: Any) -> InferenceOutput:
    """Run one inference batch (``dnn-suite run --scenario inference``): move it to the device,
    forward, and the model's post-processing (a detector's decoding and NMS to its final detections).

    Implemented by model plugins that can be benchmarked in inference; called for every warmup and
    measured iteration of such a run, with ``model`` in eval mode, inside ``torch.inference_mode``,
    on batches of the ``"eval"`` split of :func:`dnn_suite_build_dataloader`. Use the precision
    (autocast) and memory format of the train step. Return an
    :class:`~dnn_suite.context.InferenceOutput` with the number of samples predicted; leave the
    predictions on the device (nothing needs reading back for the timing).
    """


@hookspec(firstresult=True)
def dnn_suite_evaluate(run: RunContext, model: torch.nn.Module) -> dict[str, Any] | None:
    """Evaluate ``model`` and return JSON-serialisable metrics (e.g. ``{"mAP": 0.56}``).

    Implemented by model plugins that can evaluate; called after the measured windows when
    the run asks for evaluation (``evaluate: true``) and by ``dnn-suite eval``.
    """


@hookspec(firstresult=True)
def dnn_suite_train(run: RunContext) -> dict[str, Any] | None:
    """Run a full training job (``dnn-suite train``): epochs or steps, schedule,
    checkpoints, resume, periodic evaluation. Return final metrics.

    Implemented by model plugins that offer real training; the benchmark loop
    (``dnn-suite run``) does not call it. With ``--nproc-per-node`` every rank calls it: wrap
    the model with :func:`dnn_suite.distributed.wrap_model`, shard the data by ``run.rank``
    and ``run.world_size``, and write checkpoints from rank 0 only.
    """


# --------------------------------------------------------------------------- profiler hooks


@hookspec
def dnn_suite_profiler_preflight(run: RunContext) -> None:
    """Check, before anything runs, that the chosen profilers can work here.

    Implemented by profilers with requirements (a tool on PATH, a driver, a GPU of some
    compute capability). Raise :class:`~dnn_suite.errors.UsageError` with a one-line
    reason and a suggestion. Called in the process the user started.
    """


@hookspec(firstresult=True)
def dnn_suite_launch_command(run: RunContext, command: list[str]) -> list[str] | None:
    """Wrap ``command`` (the argv that re-runs this benchmark as a child) in the external
    tool's command line, e.g. ``["nsys", "profile", ..., *command]``.

    Implemented by launcher profilers; only the run's single launcher is asked. The
    result is executed as an argument list, never through a shell.
    """


@hookspec(firstresult=True)
def dnn_suite_training_loop(run: RunContext) -> list[WindowResult]:
    """Wrap the whole training loop (warmup and every measured window).

    Profilers implement it with ``wrapper=True``: code before ``yield`` runs before the
    warmup, code after it once the last window ended (also when it raised). The core
    provides the implementation that runs the loop; a wrapper must return what ``yield``
    gave it.
    """


@hookspec(firstresult=True)
def dnn_suite_measured_window(run: RunContext, window: int) -> WindowResult:
    """Wrap one measured window (index ``window``, from 0 with ``--repeat``).

    Profilers implement it with ``wrapper=True`` to start and stop exactly with the
    measurement: samplers start their threads, launcher profilers' in-child side opens the
    capture (``cudaProfilerStart``, an NVTX range). The core provides the implementation
    that times the iterations and returns a :class:`~dnn_suite.context.WindowResult`.
    A profiler that needs iterations of its own, outside the measured ones (the memory
    profiler tracks some before window 0), runs them before ``yield`` through
    ``run.training`` (:class:`~dnn_suite.context.StepInputs`: model, optimizer, next batch)
    and ``run.hook.dnn_suite_train_step``.
    """


@hookspec(firstresult=True)
def dnn_suite_iteration(run: RunContext, window: int, index: int) -> Any:
    """Wrap one iteration of the benchmark loop: the fetch of its batch and its train step.

    Called for every warmup iteration (``window`` -1, ``index`` from 0 to the warmup count)
    and every measured one (``window`` from 0, ``index`` from 0 in each window, inside
    :func:`dnn_suite_measured_window`), in the order they run. Profilers implement it with
    ``wrapper=True`` to act once per iteration (the ``torch`` profiler advances its schedule
    with ``prof.step()`` and marks the iteration as ``ProfilerStep#N``): code before ``yield``
    runs before the batch is fetched, code after it once the train step returned (its device
    work may still be queued: the runner synchronizes per its timing mode, after this hook).
    The core provides the implementation; what it returns is the runner's own record of the
    iteration, opaque to plugins: a wrapper must return what ``yield`` gave it.

    A wrapper's time is outside the iteration's ``step_s`` and ``data_wait_s`` but inside
    its window's wall time, so it must stay cheap (microseconds). Iterations a profiler runs
    itself through ``run.training`` and those of ``dnn-suite train`` do not pass through it.
    """


@hookspec
def dnn_suite_profiler_report(run: RunContext) -> tuple[str, dict[str, Metric]] | None:
    """Return ``(profiler name, metrics)`` after the run, or ``None`` if not involved.

    Implemented by every profiler. Called in the process that owns the run directory once
    the loop ended (for launchers: in the parent, after the child exited, to analyze the
    tool's output). Write artefacts under ``run.profiler_dir(name)``; the core lists them in
    run.json. Raise :class:`~dnn_suite.errors.RunFailed` if the tool's output shows it
    failed; the error is recorded under the profiler's name and the run is marked failed.
    """


@hookspec(firstresult=True)
def dnn_suite_analyze_file(path: Path) -> Any | None:
    """Analyze an existing artefact (``dnn-suite analyze PATH``).

    Implemented by profiler plugins that can read a file format. Return an object with
    ``to_json()`` and ``format_text()`` if ``path`` is in a format this plugin reads, else
    ``None`` so the next plugin is asked.
    """


# --------------------------------------------------------------------------- logger hooks


@hookspec
def dnn_suite_register_loggers(register: Callable[[LoggerSpec], None]) -> None:
    """Declare the loggers this plugin offers (the names ``--log-to`` takes).

    Implemented by logger plugins; called once when plugins are loaded. Call
    ``register(LoggerSpec(...))`` once per logger: its name, description and options (set
    under ``log_options.NAME``, e.g. a tracking server's address).
    """


@hookspec
def dnn_suite_logger_preflight(run: RunContext) -> None:
    """Check, before anything runs, that the chosen loggers can work here.

    Implemented by loggers whose tracker's package is optional: raise
    :class:`~dnn_suite.errors.UsageError` with a one-line reason and the command that installs
    it (:func:`dnn_suite.reporting.install_hint.extra_install_command` for an extra of
    dnn-suite). Called on a manager holding the run's chosen loggers only.
    """


@hookspec
def dnn_suite_log_run(run: RunContext, logged: LoggedRun) -> tuple[str, dict[str, Any]] | None:
    """Send the finished run ``logged`` (:class:`~dnn_suite.logged_run.LoggedRun`: its settings,
    environment, figures, per-window and per-step series and files) to this logger's tracker.

    Called once per run of ``dnn-suite run``, ``train`` and ``eval``, also failed or interrupted
    ones (``logged.status``), after the record is written, in the process that owns the run
    directory (rank 0; for a launcher profiler's run, the user's process). Return ``(logger
    name, where it went)``, e.g. ``("mlflow", {"run_id": ...})``: the core records it under
    ``loggers`` in the run's record. An exception is recorded there as the logger's error and
    shown as a warning; the run's result stands.
    """
