"""The training loop: steps, periodic evaluation and checkpoints, and stopping on Ctrl-C or SIGTERM.

Ctrl-C or SIGTERM finishes the current step, writes ``last.pt`` and then raises
KeyboardInterrupt (a second one aborts at once, without a checkpoint).

Several processes: the replicas stay identical, so rank 0 alone writes checkpoints and progress
and evaluates (the others wait for it in the next collective). The RNG states are the same on
every rank (seeded alike, and nothing in a step draws from them), so rank 0's are saved for all.
"""

from __future__ import annotations

import csv
import math
import signal
import time
from pathlib import Path
from typing import Any, TextIO

from torch.utils.data import DataLoader

from dnn_suite import signals
from dnn_suite.distributed import any_rank
from dnn_suite.errors import RunFailed
from dnn_suite.logged_run import STEP_TABLES

from .checkpoint import LAST, link_last, save_checkpoint
from .data_order import seeded_loader
from dnn_suite.progress import TrainingProgress
from .rng import rng_untouched
from .state import TrainingState
from .summary import headline, metrics, plain

DEFAULT_LOG_EVERY = 10  # steps between reads of the loss on the host (--log-every)


def stop_requests(stream: TextIO) -> signals.Deferred:
    """The first Ctrl-C or SIGTERM asks the loop to stop after the current step (and save); a second aborts."""
    def tell(signum: int) -> None:
        print(f"\ndnn-suite: {signal.Signals(signum).name} received: finishing this step, then saving a checkpoint "
              "(Ctrl-C again to abort without one)", file=stream, flush=True)

    return signals.Deferred(tell)


class Loop:
    """One invocation of a run: from ``training.step`` to its ``total_steps``, or to a stop request."""

    def __init__(self, training: TrainingState) -> None:
        self.training = training
        task = training.run.task
        self.eval_every = task.get("eval_every")
        self.checkpoint_every = task.get("checkpoint_every")
        self.log_every = int(task.get("log_every") or DEFAULT_LOG_EVERY)
        self.start_step = training.step
        self.saved_step = -1
        self.losses: list[float] = []
        # (step, loss tensor, learning rate, images) of the steps whose loss is not read yet
        self.unread: list[tuple[int, Any, float, int]] = []
        self.loader: DataLoader | None = None  # while run() runs

    def save(self, progress: TrainingProgress | None = None) -> Path:
        """Write ``step_<N>.pt`` and point ``last.pt`` at it; rank 0 writes for every process."""
        started = time.perf_counter()
        path = self.training.checkpoint_dir / f"step_{self.training.step}.pt"
        if self.training.run.rank == 0:
            save_checkpoint(path, self.training.checkpoint())
            link_last(path)
        self.saved_step = self.training.step
        if progress is not None:
            progress.busy_s += time.perf_counter() - started
            progress.note(f"checkpoint: step {self.training.step} -> {path}")
        return path

    def can_evaluate(self) -> bool:
        return bool(self.training.run.hook.dnn_suite_evaluate.get_hookimpls())

    def evaluate(self, progress: TrainingProgress | None = None, *, details: bool = False) -> dict[str, Any] | None:
        """Evaluate the EMA weights (else the model) without touching the training state;
        ``details`` also prints the evaluation's own summary (per-class AP)."""
        training, started = self.training, time.perf_counter()
        model = training.ema.module if training.ema is not None else training.model
        with rng_untouched(training.run.device):
            result = training.run.hook.dnn_suite_evaluate(run=training.run, model=model)
        training.model.train()
        if result is None:
            return None
        result = plain(result)
        summary = result.pop("summary", None)
        record = {"step": training.step, "ema": training.ema is not None, **result}
        training.evaluations.append(record)
        if progress is not None:
            progress.busy_s += time.perf_counter() - started
            progress.note(f"evaluation at step {training.step}{' (EMA weights)' if training.ema is not None else ''}: "
                          f"{headline(result) or 'done'}" + (f"\n{summary}" if summary and details else ""))
        return record

    def read_losses(self, progress: TrainingProgress) -> None:
        """Read the losses of the steps since the last reading (one wait for the device), check
        them and report progress; reading every step would stall the GPU's run-ahead."""
        unread, self.unread = self.unread, []
        rows = []
        for step, loss_value, lr, images in unread:
            loss = float(loss_value)
            if not math.isfinite(loss):
                raise RunFailed(f"the training loss is {loss} at step {step}")
            self.losses.append(loss)
            rows.append((step, loss, lr))
            progress.update(step, loss, lr, images)
        self._record(rows)

    def _record(self, rows: list[tuple[int, float, float]]) -> None:
        """Append the steps read to the run's steps.csv (rank 0): every step's loss and learning rate,
        which the loggers (``--log-to``) send on; a resumed training appends to its run's table."""
        run = self.training.run
        if run.rank != 0 or not rows or run.run_dir is None:
            return
        path = run.run_dir / STEP_TABLES["train"]
        new = not path.is_file()
        with open(path, "a", newline="", encoding="utf-8") as handle:
            table = csv.writer(handle)
            if new:
                table.writerow(("step", "loss", "lr"))
            table.writerows(rows)

    def interrupted(self, interrupts: signals.Deferred) -> bool:
        """Whether to stop after this step. Ctrl-C reaches the ranks at slightly different moments;
        they agree (any rank interrupted) so that all stop after the same step and rank 0 saves it.
        The ranks ask after every step: a CPU all-reduce that never waits for the GPU (torchrun kills
        workers 30 s after forwarding a signal, so the stop must not wait for a logging step)."""
        interrupts.requested = any_rank(interrupts.requested, self.training.run.world_size)
        return interrupts.requested

    def _announce(self) -> None:
        training, run = self.training, self.training.run
        epochs = training.total_steps / training.steps_per_epoch
        processes = f" x {run.world_size} processes" if run.world_size > 1 else ""
        print(f"dnn-suite: training {run.config.model} {run.config.variant} on {run.config.dataset} "
              f"({training.sampler.size} images, {training.steps_per_epoch} steps/epoch), batch {run.config.batch_size}"
              f"{processes}, {training.total_steps} steps ({epochs:.3g} epochs, warmup {training.warmup_steps}), "
              f"{run.device}"
              + (f"; resuming at step {training.step} from {training.resume_path}" if training.resume_path else "")
              + f" -> {run.run_dir}", file=training.stream, flush=True)

    def _steps(self, progress: TrainingProgress, interrupts: signals.Deferred, evaluate: bool) -> None:
        """Train to the end (the last step is not checkpointed here); KeyboardInterrupt on a stop request."""
        training = self.training
        while training.step < training.total_steps:
            training.sampler.epoch, training.sampler.start = divmod(training.step, training.steps_per_epoch)
            for batch in self.loader:
                lr = training.optimizer.param_groups[0]["lr"]
                output = training.step_fn(training.wrapped, batch, training.optimizer)
                training.scheduler.step()
                if training.ema is not None:
                    training.ema.update_parameters(training.model)
                training.step += 1
                self.unread.append((training.step, output.loss, lr, output.samples * training.run.world_size))
                if training.step % self.log_every == 0 or training.step >= training.total_steps:
                    self.read_losses(progress)
                if training.step >= training.total_steps:
                    return
                # Evaluate first, so that the checkpoint of this step records the evaluation.
                if evaluate and self.eval_every and training.step % self.eval_every == 0:
                    self.evaluate(progress)
                if self.checkpoint_every and training.step % self.checkpoint_every == 0:
                    self.read_losses(progress)
                    self.save(progress)
                if self.interrupted(interrupts):  # between two steps: the state is consistent
                    raise KeyboardInterrupt

    def run(self) -> dict[str, Any]:
        """Train, checkpoint the last step, evaluate it; the metrics (see summary.py)."""
        training, run = self.training, self.training.run
        # Rank 0 evaluates the whole eval split; the others wait for it in the next step's collectives.
        evaluate = self.can_evaluate() and run.rank == 0
        self._announce()
        progress = TrainingProgress(training.stream, training.step, training.total_steps, training.steps_per_epoch)
        self.loader = seeded_loader(training.dataset, training.sampler, run.data_loader, run.config.seed,
                                    training.collate_fn)
        started = time.perf_counter()
        training.model.train()
        try:
            with stop_requests(training.stream) as interrupts:
                try:
                    self._steps(progress, interrupts, evaluate)
                    progress.close()
                    self.save(progress)
                    if interrupts.requested:
                        raise KeyboardInterrupt
                except KeyboardInterrupt:
                    self.read_losses(progress)
                    progress.close()
                    # A second Ctrl-C may have struck mid-step: then there is no consistent state to save.
                    if interrupts.requested and not interrupts.aborted and training.step > self.start_step:
                        if self.saved_step != training.step:
                            self.save()
                        print(f"dnn-suite: interrupted at step {training.step}; continue with: dnn-suite train "
                              f"{run.config.model} --resume {training.checkpoint_dir / LAST}", file=training.stream,
                              flush=True)
                    raise
        finally:
            # Its workers ignore SIGTERM (a scheduler signals them too), so they are stopped here, never left
            # to the exit handlers (which would wait for them forever). The loader's one reference is this
            # attribute: a frame kept alive by the traceback of a stop request must not hold it.
            self.loader = None
        # The final checkpoint is written: from here on Ctrl-C simply stops (the evaluation).
        final = self.evaluate(progress, details=True) if evaluate else None
        return metrics(training, self.start_step, self.losses, time.perf_counter() - started, progress, final,
                       str(training.checkpoint_dir / LAST))

