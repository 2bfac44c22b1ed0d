"""``dnn-suite train`` and ``dnn-suite eval``: the commands besides the benchmark that run a model,
through its plugin's ``dnn_suite_train`` / ``dnn_suite_evaluate`` hooks, recorded in ``<command>.json``
of a run directory (a resumed training continues in its own)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from dnn_suite import __version__, distributed, signals
from dnn_suite.run import backends, environment, loggers, resume, runstate
from dnn_suite.atomic import to_json_text, write_atomic, write_json_atomic
from dnn_suite.settings.resolve import RunConfig
from dnn_suite.context import RunContext
from dnn_suite.errors import RunFailed, UsageError, one_line
from dnn_suite.run.output_dir import SCHEMA_VERSION, new_run_dir
from dnn_suite.plugins import run_plugin_manager
from dnn_suite.registry import Registry
from dnn_suite.run.compiling import CompileMeter, check_mode
from dnn_suite.run.runner import resolve_device, seed_everything

HOOKS = {"train": "dnn_suite_train", "eval": "dnn_suite_evaluate"}


def _task_dir(command: str, config: RunConfig, task: dict[str, Any]) -> Path:
    """A new directory, except when resuming: training continues in the run it resumes."""
    if command == "train" and task.get("resume"):
        return resume.run_dir(task["resume"])
    return new_run_dir(config.output, f"{command}_{config.model}-{config.variant}")


def run_task(command: str, config: RunConfig, registry: Registry, task: dict[str, Any], *, as_json: bool) -> int:
    """Run ``dnn-suite train`` or ``dnn-suite eval`` through the model plugin's hooks and
    write ``<command>.json`` in the task's directory."""
    registered = registry.models[config.model]
    manager = run_plugin_manager(None, registered.plugin, [])
    hook = getattr(manager.hook, HOOKS[command])
    if not hook.get_hookimpls():
        raise UsageError(f"model {config.model} does not support `dnn-suite {command}`")
    world, device = distributed.setup(config, resolve_device(config.device), ())
    run = RunContext(config=config, device=device, hook=manager.hook,
                     task={"command": command, **task}, rank=world.rank, world_size=world.size)
    manager.hook.dnn_suite_check_config(run=run)
    loggers.preflight(run, registry)
    if command == "train":
        check_mode(config.compile)
    run.run_dir = distributed.share(_task_dir(command, config, task) if world.rank == 0 else None, world.size)
    if command == "eval" and not task.get("checkpoint") and not config.model_options.get("weights"):
        # after a bad output has been refused
        print("dnn-suite: no --checkpoint given: evaluating freshly initialised weights", file=sys.stderr)
    seed_everything(config.seed)
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "dnn_suite_version": __version__, "command": command,
        "status": "running", "error": None, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": config.to_json(), "task": task, "device": str(run.device),
        "backends": backends.configure(config), "data_loader": run.data_loader, "process": runstate.this_process(),
        "environment": environment.capture(), "metrics": None,
    }
    path = run.run_dir / f"{command}.json"
    previous = path.read_bytes() if path.is_file() else None
    if run.rank == 0:  # a record while running: its settings for --resume, its process for crash detection
        write_json_atomic(path, document)
    code = 0
    compiles = CompileMeter(enabled=config.compile is not None)
    try:
        if command == "train":
            with compiles:
                metrics = manager.hook.dnn_suite_train(run=run)
        else:
            model = manager.hook.dnn_suite_build_model(run=run)
            metrics = manager.hook.dnn_suite_evaluate(run=run, model=model)
        document["status"] = "ok"
    except RunFailed as exc:
        metrics, code = None, 1
        document.update(status="failed", error=str(exc))
    except KeyboardInterrupt:
        metrics, code = None, signals.exit_code()
        document.update(status="interrupted", error=signals.reason())
    except UsageError as exc:  # bad input found while starting: nothing ran, the run's record stays as it was
        if run.rank == 0:
            _restore_record(path, previous, {**document, "status": "failed", "error": one_line(exc)})
        raise
    metrics = dict(metrics or {})
    summary = metrics.pop("summary", None)
    document["metrics"] = metrics
    if config.compile is not None:
        document["compile"] = _compile_record(config, compiles)
    document["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if run.rank == 0:  # rank 0 reports for every process
        with signals.held():  # a second Ctrl-C or SIGTERM now must not leave the record `running`
            write_json_atomic(path, document)
    distributed.leave()
    if run.rank != 0:
        return code
    if config.log_to:
        document["loggers"] = loggers.send(run, registry, command, document)
        write_json_atomic(path, document)
    if as_json:
        sys.stdout.write(to_json_text(document))
    else:
        if summary:
            print(summary)
        print(f"{command}: {document['status']}" + (f" ({document['error']})" if document["error"] else "")
              + f"; results in {path}")
    return code


def _compile_record(config: RunConfig, compiles: CompileMeter) -> dict[str, Any]:
    """train.json's ``compile``: the mode, and what torch compiled over the whole training."""
    if not compiles.count:
        print(f"dnn-suite: warning: --compile {config.compile}: nothing was compiled (model {config.model}'s plugin "
              "trains without the core's training builder, dnn_suite.training.builder)", file=sys.stderr)
    return {"mode": config.compile, "compilations": compiles.count, "compile_time_s": compiles.seconds()}


def _restore_record(path: Path, previous: bytes | None, failed: dict[str, Any]) -> None:
    """Put back the record a refused resume replaced (a later resume reads its settings);
    a new run keeps its record, marked failed."""
    if previous is not None:
        write_atomic(path, previous)
    elif failed["task"].get("resume"):
        path.unlink(missing_ok=True)
    else:
        write_json_atomic(path, failed)
