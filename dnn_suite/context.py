"""The objects hooks receive and return: the run a hook is called for (:class:`RunContext`), what a
train step returns (:class:`StepOutput`), what an inference step returns (:class:`InferenceOutput`),
what a measured window produced (:class:`WindowResult`, one :class:`IterationRecord` per
iteration) and the train step's inputs for a profiler's own iterations (:class:`StepInputs`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dnn_suite.settings.resolve import RunConfig
from dnn_suite.run.loader_settings import loader_settings

if TYPE_CHECKING:  # registration needs no torch: plugins import these classes and `dnn-suite list` stays light
    import torch


@dataclass
class StepOutput:
    """What a model's training step returns.

    ``loss`` may stay a tensor on the device: the runner reads it after synchronizing, so
    the step does not need a host-device sync of its own.
    """

    loss: torch.Tensor | float
    samples: int
    components: dict[str, torch.Tensor | float] = field(default_factory=dict)


@dataclass
class InferenceOutput:
    """What a model's inference step returns: the samples it predicted (its outputs stay on the
    device, unread: the runner times the batch, not the copy of its predictions)."""

    samples: int


@dataclass
class IterationRecord:
    """One iteration of a measured window as iterations.csv holds it: its times, samples and loss
    (None in an inference run)."""

    window: int
    iteration: int
    data_wait_s: float
    step_s: float
    samples: int
    loss: float | None
    components: dict[str, float] = field(default_factory=dict)
    rank: int = 0


@dataclass
class WindowResult:
    """One measured window: its iterations and its synchronized wall time."""

    index: int
    iterations: list[IterationRecord] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False

    @property
    def samples(self) -> int:
        return sum(record.samples for record in self.iterations)

    @property
    def throughput(self) -> float:
        """Samples in the window / synchronized wall time of the window."""
        return self.samples / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class StepInputs:
    """The train step's inputs as the core built them for a run, for profilers that run iterations
    of their own outside the measured windows (the memory profiler tracks one): the model (as the
    train step gets it), its optimizer, and the next batch of the run's training data."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    next_batch: Callable[[], Any]


@dataclass
class RunContext:
    """Passed to every hook of a run.

    ``role`` is ``"main"`` for a run in the user's process and ``"child"`` for the re-run
    under a launcher profiler's tool; ``launcher`` names that profiler. ``task`` holds the
    command (``"train"`` or ``"eval"``) and its settings (epochs, checkpoint, ...) for
    ``dnn-suite train``/``eval``; it is empty for ``dnn-suite run``. ``state`` is where plugins keep
    per-run objects between hooks, under their own name. ``rank`` and ``world_size`` place this process in a multi-process run
    (``--nproc-per-node``): a model plugin gives each rank its share of the data.
    ``training`` (:class:`StepInputs`) is set once the model, its data and its optimizer are built.
    """

    config: RunConfig
    device: torch.device
    hook: Any
    run_dir: Path | None = None
    role: str = "main"
    launcher: str | None = None
    task: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1
    training: StepInputs | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The model's resolved options (hyper-parameters)."""
        return self.config.model_options

    @property
    def data_loader(self) -> dict[str, Any]:
        """Data-loader settings for this run's device and machine (``workers``, ``pin_memory``,
        ``prefetch_factor``, ``persistent_workers``; see dnn_suite.run.loader_settings)."""
        return loader_settings(self.config.workers, self.device, self.world_size)

    def profiler_options(self, name: str) -> dict[str, Any]:
        return self.config.profiler_options.get(name, {})

    def profiler_dir(self, name: str) -> Path:
        """The run's folder for a profiler's artefacts, created on first use."""
        if self.run_dir is None:
            raise RuntimeError("this run has no run directory")
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def synchronize(self) -> None:
        """Wait for the device, so that a clock read afterwards covers the queued work."""
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
