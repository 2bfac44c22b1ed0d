"""``dnn-suite train efficientdet``: the original benchmark's train_coco.sh, made resumable.

The official recipe: SGD (momentum 0.9, 0.08 per 64 images, weight decay 4e-5 not on BN or
biases), linear warmup then cosine decay over the whole run, gradient-norm clipping 10, an
EMA of the weights (``torch.optim.swa_utils.AveragedModel``), periodic evaluation and
checkpoints.

Exact resume. A checkpoint holds everything the rest of the run depends on: model, EMA,
optimizer, scheduler, GradScaler, the step and the position within the epoch, and the RNG
states (torch, CUDA, numpy, Python). The data order and the augmentations are made
independent of DataLoader workers and of where a run started:

* the batches of epoch ``e`` are a permutation drawn from ``(seed, e)``
  (:class:`EpochBatchSampler`), which a resumed run enters at the saved position;
* every sample's random augmentation draws come from torch's RNG seeded with
  ``(seed, e, index)`` inside ``torch.random.fork_rng()`` (:class:`SeededSamples`), so
  neither the worker that loads it nor the samples loaded before it matter;
* the DataLoader has its own generator (it never draws from the global RNG), the workers
  leave SIGINT and SIGTERM to the main process, and evaluation runs inside ``fork_rng`` so it leaves the training RNG alone.

A resumed run therefore computes the same steps, bit for bit on the CPU, as one that never
stopped. Ctrl-C or SIGTERM finishes the current step, writes ``last.pt`` and then raises
KeyboardInterrupt (a second one aborts at once, without a checkpoint).

Several processes (``--nproc-per-node``): ``--batch-size`` is per process. Every epoch's
permutation is cut into global batches of all ranks' images and each rank takes its slice, so
a step sees the images of a one-process run with the global batch and the saved position counts
global steps; the loss is the global batch's (see step.py) and the model runs in
DistributedDataParallel. The replicas stay identical, so rank 0 alone writes checkpoints,
progress and evaluates (the others wait for it in the next collective); every rank resumes
from the same checkpoint. The RNG states are the same on every rank (seeded alike, and nothing
in a step draws from them), so rank 0's are saved for all.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset

from dnn_suite import signals
from dnn_suite.context import RunContext
from dnn_suite.distributed import any_rank, unwrap, wrap_model
from dnn_suite.errors import RunFailed, UsageError

from . import build
from .checkpoint import load_checkpoint, load_model_state, save_checkpoint
from dnn_suite_detection.data import collate
from .optim import warmup_cosine
from .weights import backbone_bn_eps, set_backbone_bn_eps

CHECKPOINT_FORMAT = "dnn-suite-efficientdet-train"
CHECKPOINT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
LAST = "last.pt"
DEFAULT_LOG_EVERY = 10  # steps between reads of the loss on the host (--log-every)


# ----------------------------------------------------------------------------- data order


def _derived_seed(*entropy: int) -> int:
    """A well-mixed 64-bit seed from non-negative integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1, dtype=np.uint64)[0])


def _sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's augmentation in one epoch."""
    return _derived_seed(seed & 0xFFFF_FFFF_FFFF_FFFF, 1, epoch, index)


class SeededSamples(Dataset):
    """``dataset[index]`` for keys ``(epoch, index)``, with torch's RNG seeded from (seed, epoch, index).

    The transforms draw their randomness (flip, scale jitter, crop) from torch's global RNG;
    seeding it per sample inside ``fork_rng`` makes each sample's augmentation a pure function
    of the key, whichever process loads it and whatever was loaded before.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_sample_seed(self.seed, epoch, index))
            return self.dataset[index]


class EpochBatchSampler:
    """Batches of ``(epoch, index)`` keys: epoch ``epoch``'s permutation from batch ``start`` on.

    The permutation depends on ``(seed, epoch)`` only; the last incomplete batch is dropped.
    With ``world_size`` processes the permutation is cut into global batches of ``batch_size x
    world_size`` keys and rank ``rank`` gets its ``batch_size`` of each; ``start`` counts global
    batches. Set ``epoch`` and ``start`` before each ``iter(loader)`` (the loader's persistent
    workers only ever see the keys).
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start = 0

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    @property
    def batches_per_epoch(self) -> int:
        return self.size // self.global_batch_size

    def permutation(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(_derived_seed(self.seed & 0xFFFF_FFFF_FFFF_FFFF, 0, epoch))
        return torch.randperm(self.size, generator=generator).tolist()

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = self.permutation(self.epoch)
        for b in range(self.start, self.batches_per_epoch):
            first = b * self.global_batch_size + self.rank * self.batch_size
            yield [(self.epoch, i) for i in order[first:first + self.batch_size]]


def train_loader(run: RunContext, sampler: EpochBatchSampler) -> DataLoader:
    settings = run.data_loader
    workers = settings["workers"]
    return DataLoader(SeededSamples(build.dataset(run, "train"), run.config.seed), batch_sampler=sampler,
                      num_workers=workers, collate_fn=collate, pin_memory=settings["pin_memory"],
                      prefetch_factor=settings["prefetch_factor"], persistent_workers=settings["persistent_workers"],
                      worker_init_fn=signals.ignore_in_worker if workers else None,
                      generator=torch.Generator().manual_seed(run.config.seed))


# ----------------------------------------------------------------------------- RNG states


def _cuda_devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def rng_state() -> dict[str, Any]:
    """Every RNG state as tensors, lists and numbers (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if _cuda_devices() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and _cuda_devices():
        torch.cuda.set_rng_state_all(state["cuda"][: len(_cuda_devices())])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


@contextmanager
def _rng_untouched(device: torch.device) -> Iterator[None]:
    """Run something (evaluation) without consuming the training RNG streams."""
    cuda = [device.index or 0] if device.type == "cuda" else []
    numpy_state, python_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


# ----------------------------------------------------------------------------- Ctrl-C, SIGTERM


def _stop_requests(stream: TextIO) -> signals.Deferred:
    """The first Ctrl-C or SIGTERM asks the loop to stop after the current step (and save); a second aborts."""
    def tell(signum: int) -> None:
        print(f"\ndnn-suite: {signal.Signals(signum).name} received: finishing this step, then saving a checkpoint "
              "(Ctrl-C again to abort without one)", file=stream, flush=True)

    return signals.Deferred(tell)


# ----------------------------------------------------------------------------- progress


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Progress on stderr: a carriage-return line on a terminal, else a line every 10% of the run."""

    def __init__(self, stream: TextIO, start: int, total: int, steps_per_epoch: int) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start, self.total, self.steps_per_epoch = start, total, steps_per_epoch
        self.every = max(1, math.ceil(total / 10))
        self.started = time.perf_counter()
        self.busy_s = 0.0  # time spent evaluating and checkpointing, left out of speed and ETA
        self.images = 0
        self._last_draw = 0.0
        self._open_line = False

    def note(self, text: str) -> None:
        """A line of its own (a checkpoint, an evaluation), not overwritten by the progress line."""
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        print(text, file=self.stream, flush=True)

    def images_per_s(self) -> float:
        elapsed = time.perf_counter() - self.started - self.busy_s
        return self.images / elapsed if elapsed > 0 else 0.0

    def update(self, step: int, loss: float, lr: float, images: int) -> None:
        self.images += images
        now = time.perf_counter()
        done = step - self.start
        if self.tty:
            if now - self._last_draw < 0.5 and step < self.total:
                return
        elif step % self.every and step != self.start + 1 and step < self.total:
            return
        self._last_draw = now
        speed = self.images_per_s()
        rate = done / max(now - self.started - self.busy_s, 1e-9)
        eta = _duration((self.total - step) / rate) if rate > 0 else "?"
        epoch = min(step - 1, self.total - 1) // self.steps_per_epoch + 1
        epochs = math.ceil(self.total / self.steps_per_epoch)
        line = (f"step {step}/{self.total} ({100 * step / self.total:.0f}%)  epoch {epoch}/{epochs}  "
                f"loss {loss:.4f}  lr {lr:.3g}  {speed:.1f} img/s  ETA {eta}")
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._open_line = True
            if step >= self.total:
                self.stream.write("\n")
                self._open_line = False
            self.stream.flush()
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False


# ----------------------------------------------------------------------------- checkpoints


def checkpoint_config(run: RunContext, train_set: Any) -> dict[str, Any]:
    """What a checkpoint must agree on with the run that resumes it (the data order depends on the
    number of training images, the batch size per process, the number of processes and the seed)."""
    return {"model": run.config.model, "variant": run.config.variant, "image_size": build.image_size(run),
            "class_names": list(train_set.class_names), "dataset": run.config.dataset,
            "train_images": len(train_set), "batch_size": run.config.batch_size, "world_size": run.world_size,
            "seed": run.config.seed}


def resolve_resume(path: str | Path) -> Path:
    """``--resume`` may name a checkpoint file, a run directory or its ``checkpoints`` folder."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / CHECKPOINT_DIR / LAST, path / LAST):
            if candidate.is_file():
                return candidate
        raise UsageError(f"--resume {path}: no {CHECKPOINT_DIR}/{LAST} in this directory")
    if not path.is_file():
        raise UsageError(f"--resume {path}: no such checkpoint file")
    return path


def link_last(path: Path) -> Path:
    """Point ``last.pt`` at the checkpoint ``path`` (a hard link, or a copy where links fail), atomically."""
    last = path.with_name(LAST)
    tmp = path.with_name(f".{LAST}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, last)
    finally:
        tmp.unlink(missing_ok=True)
    return last


def _describe(config: dict[str, Any]) -> str:
    names = config.get("class_names") or []
    return f"variant {config.get('variant')}, {len(names)} classes, image size {config.get('image_size')}"


def check_resumable(source: Path, state: dict[str, Any], config: dict[str, Any]) -> None:
    """A UsageError naming every setting in which the checkpoint and this run differ."""
    if state.get("format") != CHECKPOINT_FORMAT or "step" not in state:
        raise UsageError(f"--resume {source}: not a `dnn-suite train` checkpoint (no training state; "
                         "`dnn-suite eval --checkpoint` reads model-only files)")
    saved = {"world_size": 1, **(state.get("config") or {})}  # checkpoints from before multi-process training
    differences = [f"{key} {saved.get(key)!r} (this run: {value!r})" for key, value in config.items()
                   if saved.get(key) != value and key != "class_names"]
    if saved.get("class_names") != config["class_names"]:
        differences.append(f"classes {', '.join(saved.get('class_names') or [])} "
                           f"(this run: {', '.join(config['class_names'])})")
    if differences:
        raise UsageError(f"--resume {source}: the checkpoint was written with other settings: "
                         + "; ".join(differences) + "; resume with the same flags")


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    def __init__(self, run: RunContext, stream: TextIO | None = None) -> None:
        if run.run_dir is None:
            raise RuntimeError("dnn-suite train needs a run directory")
        self.run = run
        self.stream = stream or sys.stderr
        self.task = run.task
        options = run.options
        self.train_set = build.dataset(run, "train")
        self.class_names = tuple(self.train_set.class_names)
        self.sampler = EpochBatchSampler(len(self.train_set), run.config.batch_size, run.config.seed, run.rank,
                                         run.world_size)
        self.steps_per_epoch = self.sampler.batches_per_epoch
        if self.steps_per_epoch == 0:
            raise UsageError(f"dataset {run.config.dataset} has {len(self.train_set)} training images, fewer than "
                             f"one batch of {self.sampler.global_batch_size}; lower --batch-size")
        self.config = checkpoint_config(run, self.train_set)

        self.resume_path = resolve_resume(self.task["resume"]) if self.task.get("resume") else None
        state = load_checkpoint(self.resume_path) if self.resume_path else None

        model = build.build_model(run)
        if state is not None:  # the model first: its key/shape check names the mismatch best
            try:
                load_model_state(model, state["model"], self.resume_path)
                set_backbone_bn_eps(model, state.get("backbone_bn_eps", backbone_bn_eps(model)))
            except UsageError as error:
                saved = state.get("config") or {}
                raise UsageError(f"--resume: {error} (checkpoint: {_describe(saved)}; "
                                 f"this run: {_describe(self.config)})") from None
            check_resumable(self.resume_path, state, self.config)
        # Steps run the wrapped model (DistributedDataParallel on several processes); the optimizer,
        # the EMA, checkpoints and evaluation use the model itself.
        self.wrapped = wrap_model(run, model)
        self.model = unwrap(self.wrapped)

        self.total_steps = self._total_steps(state)
        self.optimizer = build.build_optimizer(run, self.model)
        warmup = min(self.total_steps, round(options["warmup_epochs"] * self.steps_per_epoch))
        self.scheduler = warmup_cosine(self.optimizer, warmup_steps=warmup, total_steps=self.total_steps)
        self.warmup_steps = warmup
        self.step_fn = build.train_step(run, self.model)
        decay = float(options["ema_decay"])
        self.ema = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
                    if decay > 0 else None)
        self.step = 0
        self.saved_step = -1
        if state is not None:
            self._restore(state)
        self.start_step = self.step
        self.checkpoint_dir = run.run_dir / CHECKPOINT_DIR
        self.evaluations: list[dict[str, Any]] = list(state.get("evaluations", [])) if state else []
        self.losses: list[float] = []
        # (step, loss tensor, learning rate, images) of the steps whose loss is not read yet
        self.unread: list[tuple[int, Any, float, int]] = []
        self.log_every = int(self.task.get("log_every") or DEFAULT_LOG_EVERY)

    # -- setup

    def _total_steps(self, state: dict[str, Any] | None) -> int:
        if self.task.get("steps"):
            total = int(self.task["steps"])
        elif self.task.get("epochs"):
            total = int(self.task["epochs"]) * self.steps_per_epoch
        elif state is not None:  # resuming without a new length: the saved run's length
            total = int(state["total_steps"])
        else:
            total = self.steps_per_epoch  # one epoch
        if state is not None and total <= int(state["step"]):
            raise UsageError(f"--resume {self.resume_path}: the checkpoint is at step {state['step']} and the run "
                             f"has {total} steps; nothing left to train (pass a larger --steps or --epochs)")
        return total

    def _restore(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        saved_total = int(state["total_steps"])
        self.scheduler.load_state_dict(state["scheduler"])
        if saved_total != self.total_steps:
            # A new length: keep the step, but follow this run's schedule from here on.
            print(f"dnn-suite: the run now has {self.total_steps} steps instead of {saved_total}: "
                  "the learning-rate schedule is recomputed for the new length", file=self.stream)
            self.scheduler.base_lrs = [group["initial_lr"] for group in self.optimizer.param_groups]
            factor = self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)
            for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
                group["lr"] = base * factor
            self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        if state.get("scaler"):
            self.step_fn.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state.get("ema") is not None:
                load_model_state(self.ema.module, state["ema"], self.resume_path or "checkpoint")
                self.ema.n_averaged.copy_(state["ema_n_averaged"])
            else:
                print("dnn-suite: the checkpoint has no EMA weights: the EMA starts from the current weights",
                      file=self.stream)
        set_rng_state(state["rng"])
        self.step = int(state["step"])

    # -- checkpoints and evaluation

    def state(self) -> dict[str, Any]:
        epoch, position = divmod(self.step, self.steps_per_epoch)
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "ema_n_averaged": self.ema.n_averaged.detach().cpu() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.step_fn.scaler.state_dict(),
            "step": self.step,
            "epoch": epoch,
            "position": position,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "rng": rng_state(),
            "config": self.config,
            "class_names": list(self.class_names),  # read by `dnn-suite eval --checkpoint`
            "backbone_bn_eps": backbone_bn_eps(self.model),  # 1e-5 when fine-tuned from effdet's weights
            "tf_layout": bool(self.model.fpn.same_padding),
            "evaluations": self.evaluations,
        }

    def save(self, progress: Progress | None = None) -> Path:
        """Write ``step_<N>.pt`` and point ``last.pt`` at it; rank 0 writes for every process."""
        started = time.perf_counter()
        path = self.checkpoint_dir / f"step_{self.step}.pt"
        if self.run.rank == 0:
            save_checkpoint(path, self.state())
            link_last(path)
        self.saved_step = self.step
        if progress is not None:
            progress.busy_s += time.perf_counter() - started
            progress.note(f"checkpoint: step {self.step} -> {path}")
        return path

    def can_evaluate(self) -> bool:
        return bool(self.run.hook.dnn_suite_evaluate.get_hookimpls())

    def evaluate(self, progress: Progress | None = None, *, details: bool = False) -> dict[str, Any] | None:
        """Evaluate the EMA weights (else the model) without touching the training state;
        ``details`` also prints the evaluation's own summary (per-class AP)."""
        started = time.perf_counter()
        model = self.ema.module if self.ema is not None else self.model
        with _rng_untouched(self.run.device):
            metrics = self.run.hook.dnn_suite_evaluate(run=self.run, model=model)
        self.model.train()
        if metrics is None:
            return None
        metrics = plain(metrics)
        summary = metrics.pop("summary", None)
        record = {"step": self.step, "ema": self.ema is not None, **metrics}
        self.evaluations.append(record)
        if progress is not None:
            progress.busy_s += time.perf_counter() - started
            headline = f"mAP {metrics['mAP']:.4f}" if isinstance(metrics.get("mAP"), float) else "done"
            progress.note(f"evaluation at step {self.step}{' (EMA weights)' if self.ema is not None else ''}: "
                          f"{headline}" + (f"\n{summary}" if summary and details else ""))
        return record

    # -- the loop

    def train(self) -> dict[str, Any]:
        run, stream = self.run, self.stream
        eval_every = self.task.get("eval_every")
        checkpoint_every = self.task.get("checkpoint_every")
        # Rank 0 evaluates the whole eval split; the others wait for it in the next step's collectives.
        evaluate = self.can_evaluate() and run.rank == 0
        epochs = self.total_steps / self.steps_per_epoch
        processes = f" x {run.world_size} processes" if run.world_size > 1 else ""
        print(f"dnn-suite: training {run.config.model} {run.config.variant} on {run.config.dataset} "
              f"({len(self.train_set)} images, {self.steps_per_epoch} steps/epoch), batch {run.config.batch_size}"
              f"{processes}, {self.total_steps} steps ({epochs:.3g} epochs, warmup {self.warmup_steps}), "
              f"{run.device}"
              + (f"; resuming at step {self.step} from {self.resume_path}" if self.resume_path else "")
              + f" -> {run.run_dir}", file=stream, flush=True)
        progress = Progress(stream, self.step, self.total_steps, self.steps_per_epoch)
        loader = train_loader(run, self.sampler)
        started = time.perf_counter()
        self.model.train()
        try:
            with _stop_requests(stream) as interrupts:
                try:
                    while self.step < self.total_steps:
                        self.sampler.epoch, self.sampler.start = divmod(self.step, self.steps_per_epoch)
                        for batch in loader:
                            lr = self.optimizer.param_groups[0]["lr"]
                            output = self.step_fn(self.wrapped, batch, self.optimizer)
                            self.scheduler.step()
                            if self.ema is not None:
                                self.ema.update_parameters(self.model)
                            self.step += 1
                            self.unread.append((self.step, output.loss, lr, output.samples * run.world_size))
                            if self.step % self.log_every == 0 or self.step >= self.total_steps:
                                self.read_losses(progress)
                            if self.step >= self.total_steps:
                                break
                            # Evaluate first, so that the checkpoint of this step records the evaluation.
                            if evaluate and eval_every and self.step % eval_every == 0:
                                self.evaluate(progress)
                            if checkpoint_every and self.step % checkpoint_every == 0:
                                self.read_losses(progress)
                                self.save(progress)
                            if self.interrupted(interrupts):  # between two steps: the state is consistent
                                raise KeyboardInterrupt
                    progress.close()
                    self.save(progress)
                    if interrupts.requested:
                        raise KeyboardInterrupt
                except KeyboardInterrupt:
                    self.read_losses(progress)
                    progress.close()
                    # A second Ctrl-C may have struck mid-step: then there is no consistent state to save.
                    if interrupts.requested and not interrupts.aborted and self.step > self.start_step:
                        if self.saved_step != self.step:
                            self.save()
                        print(f"dnn-suite: interrupted at step {self.step}; continue with: dnn-suite train "
                              f"{run.config.model} --resume {self.checkpoint_dir / LAST}", file=stream, flush=True)
                    raise
        finally:
            # Its workers ignore SIGTERM (a scheduler signals them too), so they are stopped here, never left
            # to the exit handlers (which would wait for them forever).
            del loader
        # The final checkpoint is written: from here on Ctrl-C simply stops (the evaluation).
        final = self.evaluate(progress, details=True) if evaluate else None
        return self.metrics(time.perf_counter() - started, progress, final)

    def read_losses(self, progress: Progress) -> None:
        """Read the losses of the steps since the last reading (one wait for the device), check
        them and report progress; reading every step would stall the GPU's run-ahead."""
        unread, self.unread = self.unread, []
        for step, loss_value, lr, images in unread:
            loss = float(loss_value)
            if not math.isfinite(loss):
                raise RunFailed(f"the training loss is {loss} at step {step}")
            self.losses.append(loss)
            progress.update(step, loss, lr, images)

    def interrupted(self, interrupts: signals.Deferred) -> bool:
        """Whether to stop after this step. Ctrl-C reaches the ranks at slightly different moments;
        they agree (any rank interrupted) so that all stop after the same step and rank 0 saves it.
        The ranks ask after every step: a CPU all-reduce that never waits for the GPU (torchrun kills
        workers 30 s after forwarding a signal, so the stop must not wait for a logging step)."""
        interrupts.requested = any_rank(interrupts.requested, self.run.world_size)
        return interrupts.requested

    def metrics(self, wall_s: float, progress: Progress, final: dict[str, Any] | None) -> dict[str, Any]:
        tail = self.losses[-20:]
        metrics: dict[str, Any] = {
            "steps": self.step,
            "total_steps": self.total_steps,
            "epochs": round(self.step / self.steps_per_epoch, 4),
            "steps_per_epoch": self.steps_per_epoch,
            "batch_size": self.run.config.batch_size,
            "world_size": self.run.world_size,
            "resumed_from": str(self.resume_path) if self.resume_path else None,
            "start_step": self.start_step,
            "first_loss": self.losses[0] if self.losses else None,
            "final_loss": self.losses[-1] if self.losses else None,
            "final_loss_mean20": sum(tail) / len(tail) if tail else None,
            "loss_curve": loss_curve(self.losses, self.start_step),
            "final_lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": progress.images_per_s(),
            "train_time_s": wall_s,
            "evaluation": self.evaluations[-1] if self.evaluations else None,
            "evaluations": self.evaluations,
            "checkpoint": str(self.checkpoint_dir / LAST),
        }
        lines = [f"trained steps {self.start_step}-{self.step} of {self.total_steps} "
                 f"({metrics['epochs']:g} epochs) in {_duration(wall_s)}, {metrics['images_per_s']:.1f} images/s",
                 f"loss {metrics['first_loss']:.4f} -> {metrics['final_loss']:.4f} "
                 f"(mean of the last {len(tail)} steps {metrics['final_loss_mean20']:.4f})"]
        if final is not None and isinstance(final.get("mAP"), float):
            lines.append(f"mAP {final['mAP']:.4f} on {final.get('dataset', 'the eval split')}"
                         f"{' (EMA weights)' if self.ema is not None else ''} at step {final['step']}")
        lines.append(f"checkpoint {self.checkpoint_dir / LAST}")
        metrics["summary"] = "\n".join(lines)
        return metrics


def plain(value: Any) -> Any:
    """Evaluation metrics as plain dicts, lists, strings and numbers (JSON and ``weights_only`` safe)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return plain(value.tolist())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def loss_curve(losses: list[float], start: int, points: int = 50) -> list[list[float]]:
    """``[last step, mean loss]`` over up to ``points`` equal chunks of the steps trained."""
    if not losses:
        return []
    size = math.ceil(len(losses) / points)
    return [[start + min(i + size, len(losses)), sum(losses[i:i + size]) / len(losses[i:i + size])]
            for i in range(0, len(losses), size)]


def train(run: RunContext) -> dict[str, Any]:
    """The ``dnn_suite_train`` hook's work; on several processes only rank 0 prints."""
    if run.rank == 0:
        return Trainer(run).train()
    with open(os.devnull, "w") as silent:
        return Trainer(run, silent).train()
