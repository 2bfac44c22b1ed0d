"""The benchmark protocol: warmup, measured windows, synchronized timing, and the run's life
from configuration to run.json.

A run happens in one of two ways:

* in-process: build everything through the model hooks, loop, let profilers report;
* under a launcher profiler (nvprof, nsys, ncu): the user's process creates the run
  directory, re-runs itself as a child under the tool (``dnn-suite _child RUN_DIR``, an
  argument list, no shell), then asks the launcher to analyze the tool's output and adds
  those metrics to the child's run.json.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from time import perf_counter
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import psutil
import torch

from dnn_suite import __version__, distributed, signals
from dnn_suite.run import backends, environment, inference, runstate
from dnn_suite.run.compiling import CompileMeter, Warmup, check_mode, compile_model, compile_record
from dnn_suite.atomic import write_json_atomic
from dnn_suite.command import CHILD_COMMAND
from dnn_suite.settings.resolve import RunConfig
from dnn_suite.context import RunContext, StepInputs, WindowResult
from dnn_suite.errors import RunFailed, UsageError, one_line
from dnn_suite.hookspecs import hookimpl
from dnn_suite.run import loggers
from dnn_suite.run.machine_load import LoadMeter, MachineLoad
from dnn_suite.run.measurement_quality import run_warnings
from dnn_suite.run.output_dir import SCHEMA_VERSION, new_run_dir
from dnn_suite.phases import phase
from dnn_suite.plugins import run_plugin_manager
from dnn_suite.progress import progress
from dnn_suite.registry import Registry
from dnn_suite.run.statistics import window_metrics, write_iterations
from dnn_suite.run.timing import CudaEventClock, HostClock, PendingIteration, Settled, make_clock, settle


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {name}: CUDA is not available here (torch {torch.__version__}); use --device cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _endless(loader: Iterable[Any]) -> Iterator[Any]:
    """Iterate ``loader`` again and again, so a small dataset can feed any window."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise RunFailed("the training data loader produced no batch")


class CoreLoop:
    """The core's hook implementations in a run's plugin manager: the timed loop itself.

    Windows are appended as they are measured, so what was measured survives a failure or
    an interrupt and still reaches run.json. How iterations are timed and when losses are read
    is the run's timing mode (see :mod:`dnn_suite.run.timing`).
    """

    def __init__(self) -> None:
        self.model: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.batches: Iterator[Any] | None = None
        self.windows: list[WindowResult] = []
        self.interrupted = False
        self.clock: HostClock | CudaEventClock | None = None
        self.stop_requests: signals.Deferred | None = None  # in a multi-process run (see _agree_on_stop)
        self.machine_load: MachineLoad | None = None  # over the measured windows
        self.compiles = CompileMeter(enabled=False)  # what torch compiled (--compile)
        self.warmup: Warmup | None = None
        self.window_compiles: list[tuple[int, int]] = []  # the compile count at each window's start and end

    def _clock(self, run: RunContext) -> HostClock | CudaEventClock:
        if self.clock is None:
            self.clock = make_clock(run.device, run.config.timing)
        return self.clock

    @hookimpl
    def dnn_suite_iteration(self, run: RunContext, window: int, index: int) -> PendingIteration:
        return self._iteration(run, window, index)

    def _iteration(self, run: RunContext, window: int, index: int) -> PendingIteration:
        """One iteration, queued: its marks and its loss tensor, unread. The clocks are read here,
        inside the profilers' iteration wrappers, so that those stay out of the times."""
        clock = self._clock(run)
        start = perf_counter()
        with phase("data_wait"):
            batch = next(self.batches)  # type: ignore[arg-type]
        fetched = perf_counter()
        step_start = clock.mark()
        if inference.inferring(run):
            predicted = inference.infer(run, self.model, batch)  # type: ignore[arg-type]
            step_end = clock.mark()
            return PendingIteration(window, index, fetched - start, step_start, step_end, int(predicted.samples),
                                    None, {}, run.rank)
        output = run.hook.dnn_suite_train_step(run=run, model=self.model, batch=batch, optimizer=self.optimizer)
        step_end = clock.mark()
        return PendingIteration(window, index, fetched - start, step_start, step_end, int(output.samples),
                                output.loss, dict(output.components), run.rank)

    def _synchronized(self, run: RunContext) -> bool:
        return run.config.timing == "synchronized"

    def _agree_on_stop(self, run: RunContext) -> None:
        """After each iteration of a multi-process run: stop (KeyboardInterrupt) when any rank got a
        stop request, so that every rank stops after the same iteration and the ranks meet in the
        same collectives afterwards. One process stops at once, mid-iteration, as Ctrl-C does."""
        if self.stop_requests is not None and distributed.any_rank(self.stop_requests.requested, run.world_size):
            raise KeyboardInterrupt

    @hookimpl
    def dnn_suite_training_loop(self, run: RunContext) -> list[WindowResult]:
        with CompileMeter(enabled=run.config.compile is not None) as self.compiles:
            if run.world_size == 1:
                return self._loop(run)
            with signals.Deferred(lambda signum: None) as self.stop_requests:
                return self._loop(run)

    def _loop(self, run: RunContext) -> list[WindowResult]:
        clock, pending = self._clock(run), []
        try:
            self.warmup = warmup = Warmup(run.config.warmup, self.compiles)  # longer while a compiled model compiles
            with progress(total=run.config.warmup, label="warmup") as bar:
                while warmup.another():
                    pending.append(run.hook.dnn_suite_iteration(run=run, window=-1, index=warmup.ran - 1))
                    if self._synchronized(run):
                        settle(pending, clock)
                    bar.update()
                    self._agree_on_stop(run)
                settle(pending, clock)
            warmup.done()
        except KeyboardInterrupt:
            self.interrupted = True
            return self.windows
        if run.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(run.device)
        # the ranks of a multi-process run are torchrun's children: their launcher's tree is the run
        meter = LoadMeter(psutil.Process().parent() if run.world_size > 1 else None)
        for window in range(run.config.repeat):
            result = run.hook.dnn_suite_measured_window(run=run, window=window)
            if result.interrupted:
                self.interrupted = True
                break
        self.machine_load = meter.read()
        return self.windows

    @hookimpl
    def dnn_suite_measured_window(self, run: RunContext, window: int) -> WindowResult:
        result = WindowResult(window)
        self.windows.append(result)
        iterations, duration = run.config.iterations, run.config.duration
        clock, pending = self._clock(run), []
        clock.wait()
        compiled_before = self.compiles.count
        origin = clock.mark()
        host_start = perf_counter()

        def record(settled: Settled) -> None:
            result.iterations.extend(settled.records)
            if settled.last_end is not None:
                result.wall_s = clock.seconds(origin, settled.last_end)

        def take() -> None:
            """Read the pending iterations into the window (those before a NaN too)."""
            try:
                settled = settle(pending, clock)
            except RunFailed as error:
                record(error.settled)  # type: ignore[attr-defined]
                raise
            record(settled)

        bar = progress(total=iterations, label=f"window {window + 1}/{run.config.repeat}")
        try:
            index = 0
            while iterations is None or index < iterations:
                pending.append(run.hook.dnn_suite_iteration(run=run, window=window, index=index))
                if self._synchronized(run):
                    take()
                    bar.update(loss=result.iterations[-1].loss)
                else:
                    bar.update()
                self._agree_on_stop(run)
                index += 1
                if duration is not None and perf_counter() - host_start >= duration:
                    break
            take()
        except KeyboardInterrupt:
            result.interrupted = True
            take()
        finally:
            bar.close()
            self.window_compiles.append((compiled_before, self.compiles.count))
        return result


def memory_metrics(device: torch.device) -> dict[str, Any]:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    memory: dict[str, Any] = {"max_rss_bytes": rss_kib * 1024}
    if device.type == "cuda":
        memory["cuda_max_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        memory["cuda_max_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
    return memory


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Run:
    """One benchmark run: its context, its run.json document and how it is executed."""

    def __init__(self, config: RunConfig, registry: Registry, *, role: str = "main", run_dir: Path | None = None):
        self.config = config
        self.registry = registry
        self.role = role
        registered = registry.models[config.model]
        self.launcher = next((p for p in config.profilers if registry.profilers[p].spec.launcher), None)
        self.core = CoreLoop()
        in_process = [p for p in config.profilers if p != self.launcher]
        # The user's process of a launched run holds the launcher only; the child holds the
        # in-process profilers and the launcher's in-child side (it opens the capture).
        names = [self.launcher] if role == "main" and self.launcher else config.profilers
        self.reporting = [self.launcher] if role == "main" and self.launcher else in_process
        manager = run_plugin_manager(self.core, registered.plugin, [registry.profilers[n].plugin for n in names])
        self.manager = manager
        world, device = distributed.setup(config, resolve_device(config.device),
                                          [registry.profilers[p].spec for p in config.profilers])
        self.context = RunContext(
            config=config, device=device, hook=manager.hook,
            run_dir=run_dir, role=role, launcher=self.launcher, rank=world.rank, world_size=world.size,
        )
        self.ranks: list[dict[str, Any]] = []  # per-rank summaries of a multi-process run
        self.document: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "dnn_suite_version": __version__,
            "status": "running",
            "error": None,
            "started_at": _now(),
            "finished_at": None,
            "command": sys.argv,
            "process": runstate.this_process(),  # while running: how readers tell a crash (runstate)
            "config": config.to_json(),
            "model": {
                "name": config.model, "variant": config.variant, "plugin": registered.origin.plugin_name,
                "distribution": registered.origin.distribution, "version": registered.origin.version,
            },
            "device": str(self.context.device),
            "scenario": config.scenario,
            "timing": {"mode": config.timing, "step_clock": make_clock(device, config.timing).name},
            "backends": backends.configure(config),
            "data_loader": self.context.data_loader,
            "environment": environment.capture(),
            "metrics": None,
            "profilers": {},
            "evaluation": None,
        }

    # ----------------------------------------------------------------- helpers

    def preflight(self) -> None:
        """The model's configuration check and every chosen profiler's preflight: a launched
        run's own manager holds the launcher only, but the in-process profilers its child will
        load must be checked here too."""
        check_mode(self.config.compile)
        inference.check(self.context)
        plugins = [self.registry.profilers[name].plugin for name in self.config.profilers]
        manager = run_plugin_manager(None, self.registry.models[self.config.model].plugin, plugins)
        manager.hook.dnn_suite_check_config(run=self.context)
        manager.hook.dnn_suite_profiler_preflight(run=self.context)
        loggers.preflight(self.context, self.registry)

    def create_run_dir(self) -> Path:
        name = f"{self.config.model}-{self.config.variant}_bs{self.config.batch_size}"
        created = new_run_dir(self.config.output, name) if self.context.rank == 0 else None
        self.context.run_dir = distributed.share(created, self.context.world_size)
        self.document["run_dir"] = str(self.context.run_dir)
        return self.context.run_dir

    @property
    def run_dir(self) -> Path:
        assert self.context.run_dir is not None
        return self.context.run_dir

    def save(self) -> None:
        if self.context.rank != 0:  # rank 0 writes for every process
            return
        write_json_atomic(self.run_dir / "run.json", self.document)

    def _finish(self, status: str, error: str | None) -> None:
        """Record how the run ended; a second Ctrl-C or SIGTERM now must not leave it `running`."""
        self.document["status"] = status
        self.document["error"] = error
        self.document["finished_at"] = _now()
        with signals.held():
            self.save()
        if self.role == "main" and self.context.rank == 0 and self.config.log_to:  # the process owning the run
            self.document["loggers"] = loggers.send(self.context, self.registry, "run", self.document)
            self.save()

    def _program_pid(self, tool_pid: int) -> int:
        """The benchmark's own process under a launcher's tool (it records itself in run.json), so a
        stop request reaches the program and the tool stays to write its output; else the tool."""
        record = (_read_json(self.run_dir / "run.json") or {}).get("process") or {}
        mine = self.document["process"]
        if record.get("pid") != mine["pid"] and record.get("host") == mine["host"] and runstate.is_alive(record):
            return int(record["pid"])
        return tool_pid

    def _profiler_reports(self) -> None:
        """Ask each reporting profiler for its metrics; one failing does not hide the others."""
        reports = self.document["profilers"]
        plugins = {name: self.registry.profilers[name].plugin for name in self.reporting}
        for name, plugin in plugins.items():
            others = [p for p in self.manager.get_plugins() if p is not plugin]
            caller = self.manager.subset_hook_caller("dnn_suite_profiler_report", remove_plugins=others)
            try:
                answers = caller(run=self.context)
            except (RunFailed, UsageError) as exc:
                reports[name] = {"metrics": {}, "artefacts": self._artefacts(name), "error": str(exc)}
                continue
            for answer in answers:
                if answer is None:
                    continue
                reported_name, metrics = answer
                reports[reported_name] = {
                    "metrics": {k: m.to_json() for k, m in metrics.items()},
                    "artefacts": self._artefacts(reported_name),
                    "error": None,
                }

    def _artefacts(self, name: str) -> list[str]:
        folder = self.run_dir / name
        if not folder.is_dir():
            return []
        return sorted(str(p.relative_to(self.run_dir)) for p in folder.rglob("*") if p.is_file())

    # ----------------------------------------------------------------- in-process

    def execute(self) -> int:
        """Build, loop, report and write results in this process. Returns the exit code."""
        run = self.context
        seed_everything(self.config.seed)
        self.save()
        status, error = "ok", None
        try:
            hook = run.hook
            self.core.model = distributed.wrap_model(run, hook.dnn_suite_build_model(run=run))
            self.core.batches = _endless(signals.leave_to_main_process(
                hook.dnn_suite_build_dataloader(run=run, split=inference.DATA_SPLIT[self.config.scenario])))
            if inference.inferring(run):
                self.core.model.eval()
            else:
                self.core.optimizer = hook.dnn_suite_build_optimizer(run=run, model=self.core.model)
                run.training = StepInputs(self.core.model, self.core.optimizer, lambda: next(self.core.batches))
            compile_model(self.core.model, self.config.compile)
            hook.dnn_suite_training_loop(run=run)
            self.core.windows, self.ranks = distributed.merge_windows(self.core.windows, run.world_size,
                                                                      memory_metrics(run.device))
            distributed.leave()
            if run.rank != 0:
                return signals.exit_code() if self.core.interrupted else 0
            if self.core.interrupted:
                status, error = "interrupted", signals.reason()
            elif self.config.evaluate:
                model = distributed.unwrap(self.core.model)
                self.document["evaluation"] = hook.dnn_suite_evaluate(run=run, model=model)
        except KeyboardInterrupt:
            status, error = "interrupted", signals.reason()
        except RunFailed as exc:
            status, error = "failed", one_line(exc)
        except UsageError as exc:  # bad input found while building or loading (dataset, checkpoint...)
            self._finish("failed", one_line(exc))
            raise
        except Exception as exc:  # the run itself broke: record it, exit 1
            status, error = "failed", f"{type(exc).__name__}: {one_line(exc)}"
            self._record_results()
            self._finish(status, error)
            raise
        self._record_results()
        self._profiler_reports()
        if status == "ok" and any(r.get("error") for r in self.document["profilers"].values()):
            status, error = "failed", "a profiler failed (see profilers in run.json)"
        self._finish(status, error)
        return {"ok": 0, "failed": 1, "interrupted": signals.exit_code()}[status]

    def _record_results(self) -> None:
        if self.context.rank != 0:
            return
        windows = self.core.windows
        records = [r for w in windows for r in w.iterations]
        write_iterations(self.run_dir / "iterations.csv", records, ranks=self.context.world_size > 1)
        metrics = window_metrics(windows)
        if inference.inferring(self.context) and records:
            metrics["inference"] = inference.inference_metrics(metrics, self.config.batch_size)
        if self.config.compile is not None and self.core.warmup is not None:
            metrics["compile"] = compile_record(self.config.compile, self.core.compiles, self.core.warmup,
                                                self.core.window_compiles)
        metrics["memory"] = memory_metrics(self.context.device)
        if self.ranks:  # rank 0's figures as gathered with the others', and their sum (each rank its own process)
            metrics["memory"] = {**self.ranks[0]["memory"], "rank": 0,
                                 "max_rss_bytes_all_ranks": sum(r["memory"]["max_rss_bytes"] for r in self.ranks)}
            metrics["distributed"] = {"world_size": self.context.world_size,
                                      "backend": distributed.backend(self.context.device), "ranks": self.ranks}
        self.document["metrics"] = metrics
        if self.core.machine_load is not None:
            self.document["machine_load"] = self.core.machine_load.to_json()
        self.document["warnings"] = run_warnings(self.document)

    # ----------------------------------------------------------------- launched

    def execute_under_launcher(self, echo: bool) -> int:
        """Re-run this benchmark as a child under the launcher's tool, then analyze."""
        run = self.context
        self.save()
        child = [sys.executable, "-m", "dnn_suite", CHILD_COMMAND, str(self.run_dir)]
        command = run.hook.dnn_suite_launch_command(run=run, command=child)
        if not command:
            raise RunFailed(f"profiler {self.launcher} built no command")
        log_path = run.profiler_dir(self.launcher) / "tool.log"
        returncode = _run_logged(command, log_path, echo, self._program_pid)
        child_document = _read_json(self.run_dir / "run.json")
        if child_document is not None and child_document.get("status") != "running":
            # the child measured; what the user ran (command, process, run_dir, start) is the parent's
            kept = {key: self.document[key] for key in ("command", "process", "run_dir", "started_at")
                    if key in self.document}
            self.document = {**child_document, **kept}
        status = self.document.get("status", "running")
        error = self.document.get("error")
        if status == "running" and signals.received():  # stopped before the child could record
            status, error = "interrupted", f"{signals.reason()} before the profiled program recorded its results"
        elif status == "running":  # the child never wrote its results
            status, error = "failed", f"{command[0]} exited with code {returncode}; see {log_path}"
        self._profiler_reports()
        if status == "ok" and self.document["profilers"].get(self.launcher, {}).get("error"):
            status, error = "failed", f"profiler {self.launcher} failed: {self.document['profilers'][self.launcher]['error']}"
        self._finish(status, error)
        return {"ok": 0, "failed": 1, "interrupted": signals.exit_code()}[status]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _run_logged(command: list[str], log_path: Path, echo: bool, redirect: Callable[[int], int]) -> int:
    """Run ``command`` (argument list, no shell), copying its output to ``log_path`` and,
    when ``echo``, to our stderr. A stop request (Ctrl-C, SIGTERM) goes on to ``redirect(its pid)``; we wait
    for the child to record what it measured and finish."""
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise UsageError(f"cannot start {command[0]!r}: not found on PATH") from exc
    assert process.stdout is not None
    with open(log_path, "wb") as log:
        while True:
            try:
                chunk = process.stdout.readline()
            except KeyboardInterrupt:
                if process.poll() is None:
                    signals.forward(redirect(process.pid))
                continue
            if not chunk:
                break
            log.write(chunk)
            if echo:
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
    return signals.wait_for(process, redirect)
