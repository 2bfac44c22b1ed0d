"""Every run setting, declared once: a :class:`RunConfig` field with its type, check, help and flag.

Each field is made by :func:`setting`, which records a :class:`Setting` in the field's metadata.
Everything else is derived from these declarations: the suite.yaml and ``--set`` checks
(:mod:`dnn_suite.settings.resolve`), the command-line flags and their help (:mod:`dnn_suite.cli`), the
published JSON Schemas of suite.yaml and run.json (:mod:`dnn_suite.settings.schema`) and the settings
reference of the docs (``docs/reference/settings.md``, checked against them by the tests).
Adding a setting is adding a field here, and reading ``run.config.<name>`` where it acts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from dnn_suite.run.allocator import OLD_NAMES as OLD_ALLOCATOR_NAMES
from dnn_suite.run.allocator import POLICIES as ALLOCATOR_POLICIES
from dnn_suite.executors import NAMES as EXECUTORS
from dnn_suite.value_types import Boolean, Integer, ListOf, Mapping, Number, Text, ValueType

#: how measured windows are timed (dnn_suite.run.timing)
TIMING_MODES = ("deferred", "synchronized")
#: what a run measures: training iterations, or forward passes in eval mode (dnn_suite.run.inference)
SCENARIOS = ("train", "inference")
#: the commands whose flags set run settings
COMMANDS = ("run", "train", "eval")


@dataclass(frozen=True)
class Flag:
    """A setting's command-line flag (``--batch-size`` for ``batch_size`` unless ``name`` says otherwise).

    ``commands``: which of run, train and eval offer it; ``exclusive``: flags sharing this name
    exclude each other; ``distributed``: listed with the multi-process flags; ``repeated``: a
    list given by repeating the flag or comma-separating; ``sweep``: the setting that
    comma-separated values go to (``--batch-size 2,4`` is the sweep ``batch_sizes``).
    """

    commands: tuple[str, ...] = COMMANDS
    name: str = ""
    metavar: str | None = None
    exclusive: str = ""
    distributed: bool = False
    repeated: bool = False
    sweep: str = ""
    const: Any = None


@dataclass(frozen=True)
class Setting:
    """One run setting: the values it takes, its help, its flag (None: suite.yaml and ``--set``
    only); ``settable`` False: recorded in run.json but set by the suite itself."""

    type: ValueType
    help: str
    flag: Flag | None = None
    settable: bool = True
    name: str = ""
    default: Any = None
    #: whether run.json may hold null for it (the field's annotation admits None)
    nullable: bool = False

    @property
    def flag_name(self) -> str:
        assert self.flag is not None
        return self.flag.name or "--" + self.name.replace("_", "-")


_REQUIRED = object()


def setting(value_type: ValueType, help: str, default: Any = _REQUIRED, flag: Flag | None = None, *,
            settable: bool = True) -> Any:
    """A RunConfig field declared as a run setting (a list or mapping default is copied per config)."""
    metadata = {"setting": Setting(value_type, help, flag, settable)}
    if default is _REQUIRED:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


RUN = ("run",)
#: a batch far beyond any model's memory would only make the samplers build index lists of gigabytes
BATCH_SIZE = Integer(minimum=1, maximum=2**20, expected="a positive integer up to 1,048,576")


@dataclass
class RunConfig:
    """Everything a run needs to know, fully resolved (no ``None`` left but where optional)."""

    model: str = setting(Text(min_length=1, expected="a model name"),
                         "the model (`dnn-suite list`); in suite.yaml, a benchmark entry's model")
    variant: str = setting(Text(min_length=1, expected="a variant name"), "model variant (see `dnn-suite list`)",
                           flag=Flag())
    dataset: str = setting(Text(min_length=1, expected="a dataset name"),
                           "dataset name (see `dnn-suite list`), voc:DIR[:IMAGESET] or "
                           "coco:ANNOTATIONS.json[:IMAGES_DIR]", flag=Flag())
    batch_size: int = setting(BATCH_SIZE, "samples per iteration and process; on the command line N,M,... "
                              "is a sweep (`run` only)", flag=Flag(sweep="batch_sizes"))
    eval_dataset: str | None = setting(Text(min_length=1, expected="a dataset name"),
                                       "dataset to evaluate on (default: the dataset's own val/test split)", None,
                                       Flag())
    batch_sizes: list[int] | None = setting(
        ListOf(BATCH_SIZE, min_items=1, expected=f"a list of batch sizes (a sweep), each {BATCH_SIZE.expected}"),
        "a batch-size sweep (`dnn-suite run --batch-size 1,2,4`): every size in its own process", None)
    sweep: dict[str, list[Any]] | None = setting(
        Mapping(ListOf(min_items=1, expected="a non-empty list of values"), key="SETTING",
                expected="a mapping of settings (model, batch_size, model_options.NAME, ...) to lists of values"),
        "a sweep (`run` only): every combination of these settings' values, each in its own process, e.g. "
        "{model: [resnet18, resnet50], model_options.amp: [false, true]}; the flag: KEY=V1,V2, once per key "
        "(docs/running/sweeps.md)", None, Flag(RUN, metavar="KEY=V1,V2", repeated=True))
    data_root: str | None = setting(Text(min_length=1, expected="a directory path"),
                                    "directory holding the datasets (VOCdevkit/, annotations/, images/)", None, Flag())
    warmup: int = setting(Integer(minimum=0), "iterations before the measured window", 3, Flag(RUN))
    iterations: int | None = setting(Integer(minimum=1), "measured iterations per window", 10,
                                     Flag(RUN, exclusive="window"))
    duration: float | None = setting(Number(above=0, expected="a positive number of seconds"),
                                     "measured seconds per window (instead of iterations)", None,
                                     Flag(RUN, metavar="SECONDS", exclusive="window"))
    repeat: int = setting(Integer(minimum=1), "number of measured windows", 1, Flag(RUN))
    device: str = setting(Text(pattern=r"auto|cpu|cuda(:\d+)?", expected="auto, cpu, cuda or cuda:N"),
                          "auto, cpu, cuda or cuda:N", "auto", Flag())
    profilers: list[str] = setting(ListOf(Text(min_length=1), expected="a list of profiler names"),
                                   "profilers to wrap the run (see `dnn-suite list`)", [],
                                   Flag(RUN, name="--profiler", metavar="NAME", repeated=True))
    output: str = setting(Text(min_length=1, expected="a directory path"), "results directory", "results", Flag())
    seed: int = setting(Integer(minimum=0, maximum=2**63 - 1, expected="an integer from 0 to 2**63 - 1 (torch's "
                                "generators take 64 bits)"),
                        "random seed of the weights, the data and the augmentations",
                        0, Flag())
    workers: int | None = setting(Integer(minimum=0), "data loader worker processes (default: 2 on the CPU; on CUDA "
                                  "one per usable core, one left per process, up to 8)", None, Flag())
    evaluate: bool = setting(Boolean(), "evaluate the model after the measured windows", False, Flag(RUN))
    scenario: str = setting(Text(choices=SCENARIOS, expected=" or ".join(SCENARIOS)),
                            "what is measured: train (training iterations) or inference (forward passes in eval "
                            "mode under torch.inference_mode, with the model's post-processing; latency "
                            "percentiles per batch)", "train", Flag(RUN))
    compile: str | None = setting(
        Text(pattern=r"[a-z][a-z0-9-]*", expected="a torch.compile mode (default, reduce-overhead, max-autotune or "
                                                  "another the torch in use offers)"),
        "torch.compile the model in this mode (the flag alone: default; the modes of the torch in use are "
        "accepted); warmup goes on until nothing recompiles, compile time and recompilations are recorded "
        "(default: eager)", None, Flag(("run", "train"), metavar="MODE", const="default"))
    sync_batchnorm: bool = setting(Boolean(), "BatchNorm layers as SyncBatchNorm in a multi-process run on CUDA",
                                   False, Flag(("run", "train"), distributed=True))
    timing: str = setting(Text(choices=TIMING_MODES, expected=" or ".join(TIMING_MODES)),
                          "deferred: step times from CUDA events and losses read at the window's end; synchronized: "
                          "wait for the device and read the loss after every iteration", "deferred", Flag(RUN))
    cudnn_benchmark: bool = setting(Boolean(), "cuDNN autotuning of convolution algorithms (fixed input sizes make "
                                    "it pay)", True, Flag())
    tf32: bool = setting(Boolean(), "TF32 for fp32 matmuls and cuDNN convolutions on CUDA (off: fp32 is fp32)", False,
                         Flag())
    allocator: str = setting(Text(choices=ALLOCATOR_POLICIES, aliases=tuple(OLD_ALLOCATOR_NAMES),
                                  expected=" or ".join(ALLOCATOR_POLICIES)),
                             "glibc malloc: kept keeps freed memory for reuse, so that large tensors are not "
                             "page-faulted in again at every step; the other policy is glibc's own behaviour "
                             "(dnn_suite/run/allocator.py)", "kept", Flag())
    executor: str = setting(Text(choices=EXECUTORS, expected=" or ".join(EXECUTORS)),
                            "where the work runs: local (this machine) or slurm (jobs of a SLURM cluster through "
                            "submitit: a sweep's points as one job array, a run or train as one job; "
                            "docs/running/slurm.md)", "local", Flag(("run", "train")))
    slurm: dict[str, Any] = setting(Mapping(key="NAME", expected="a mapping of SLURM settings"),
                                    "the slurm executor's settings: partition, account, qos, time_limit_min, "
                                    "gpus_per_node, cpus_per_task, mem_gb, sbatch (other sbatch options), setup "
                                    "(shell lines run before the command, e.g. module load)", {})
    model_options: dict[str, Any] = setting(
        Mapping(key="NAME", expected="a mapping of model option names to values"),
        "the model's options (`dnn-suite run MODEL --help`, `dnn-suite list --json`)", {})
    profiler_options: dict[str, dict[str, Any]] = setting(
        Mapping(Mapping(key="NAME", expected="a mapping of option names to values"), key="PROFILER",
                expected="a mapping of profiler names to option mappings"),
        "each profiler's options (`dnn-suite list --json`)", {})
    log_to: list[str] = setting(ListOf(Text(min_length=1), expected="a list of logger names"),
                                "experiment trackers the finished run is sent to: its settings, environment, "
                                "figures, per-step series and files (mlflow, tensorboard; docs/running/logging.md)",
                                [], Flag(name="--log-to", metavar="NAME", repeated=True))
    log_options: dict[str, dict[str, Any]] = setting(
        Mapping(Mapping(key="NAME", expected="a mapping of option names to values"), key="LOGGER",
                expected="a mapping of logger names to option mappings"),
        "each logger's options, e.g. log_options.mlflow.tracking_uri (docs/running/logging.md)", {})
    benchmark: str | None = setting(Text(), "the suite.yaml benchmark entry the run came from", None, settable=False)

    @property
    def is_sweep(self) -> bool:
        """Whether this configuration is a sweep (several runs, dnn_suite.run.sweep) rather than one run."""
        return bool(self.batch_sizes or self.sweep)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _declared() -> dict[str, Setting]:
    hints = typing.get_type_hints(RunConfig)
    table = {}
    for declared in dataclasses.fields(RunConfig):
        default = declared.default
        if declared.default_factory is not dataclasses.MISSING:
            default = declared.default_factory()
        nullable = type(None) in typing.get_args(hints[declared.name]) and isinstance(
            hints[declared.name], types.UnionType)
        table[declared.name] = dataclasses.replace(
            declared.metadata["setting"], name=declared.name, nullable=nullable,
            default=None if default is dataclasses.MISSING else default)
    return table


#: every run setting by name, in RunConfig's order
SETTINGS: dict[str, Setting] = _declared()
#: the settings a user gives (suite.yaml, --set, flags)
USER_SETTINGS: dict[str, Setting] = {name: s for name, s in SETTINGS.items() if s.settable}


def nesting(value_type: ValueType) -> list[str]:
    """The names a mapping setting's keys stand for (``["PROFILER", "NAME"]``), for ``--set`` paths."""
    keys: list[str] = []
    while isinstance(value_type, Mapping):
        keys.append(value_type.key)
        if value_type.values is None:
            break
        value_type = value_type.values
    return keys

