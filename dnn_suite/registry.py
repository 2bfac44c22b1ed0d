"""What plugins declare (models, profilers) and the registry that looks them up by name."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from dnn_suite.errors import UsageError
from dnn_suite.options import Option, check_declarations


@dataclass(frozen=True)
class ModelSpec:
    """A model a plugin offers.

    ``options`` are the model's hyper-parameters, one :class:`~dnn_suite.options.Option` each
    (name, default, help, the values it takes). Users change them with ``--set
    model_options.KEY=VALUE``, in suite.yaml under ``model_options``, or through a flag when the
    option is declared with ``flag=True`` (``image_size`` becomes ``--image-size``). A plugin offering
    many models of one architecture (resnet18 ... resnet152) gives them the same ``family``,
    so that ``dnn-suite list`` shows them on one entry.
    """

    name: str
    description: str
    variants: tuple[str, ...]
    default_variant: str
    datasets: tuple[str, ...]
    default_dataset: str
    default_batch_size: int = 8
    #: prefixes of dataset specs the model reads besides its named datasets (``voc:`` for ``voc:DIR``)
    dataset_schemes: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    #: models of one family (same description, datasets) share one entry of ``dnn-suite list``
    family: str = ""

    def __post_init__(self) -> None:
        if self.default_variant not in self.variants:
            raise ValueError(f"model {self.name!r}: default variant {self.default_variant!r} not in {self.variants}")
        if self.default_dataset not in self.datasets:
            raise ValueError(f"model {self.name!r}: default dataset {self.default_dataset!r} not in {self.datasets}")
        check_declarations(f"model {self.name!r}", self.options)

    def accepts_dataset(self, dataset: str) -> bool:
        return dataset in self.datasets or dataset.startswith(self.dataset_schemes)


@dataclass(frozen=True)
class ProfilerSpec:
    """A profiler a plugin offers.

    A *launcher* re-runs the benchmark as a child process under an external tool; the
    others run inside the benchmark process. A ``one_process`` profiler measures a single
    process: a multi-process run (``--nproc-per-node``) asking for it is refused before any
    process starts. ``conflicts`` maps the names of profilers this
    one cannot be combined with to the reason, shown when a user asks for both. ``options``:
    one :class:`~dnn_suite.options.Option` each (set under ``profiler_options.NAME``; no flags).
    """

    name: str
    description: str
    measures: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    launcher: bool = False
    one_process: bool = False
    requires: tuple[str, ...] = ()
    conflicts: dict[str, str] = field(default_factory=dict)
    options: tuple[Option, ...] = ()

    def __post_init__(self) -> None:
        _check_unflagged(f"profiler {self.name!r}", self.options)


@dataclass(frozen=True)
class LoggerSpec:
    """Where a plugin sends finished runs (``--log-to NAME``): an experiment tracker such as MLflow
    or TensorBoard. ``options``: one :class:`~dnn_suite.options.Option` each (set under
    ``log_options.NAME``; no flags), e.g. a tracking server's address.
    """

    name: str
    description: str
    options: tuple[Option, ...] = ()

    def __post_init__(self) -> None:
        _check_unflagged(f"logger {self.name!r}", self.options)


def _check_unflagged(owner: str, options: tuple[Option, ...]) -> None:
    """A profiler's or logger's options: Option declarations with distinct names, none with a flag."""
    check_declarations(owner, options)
    flagged = [option.name for option in options if option.flag]
    if flagged:
        raise ValueError(f"{owner}: options {flagged} have flag=True; only model options get flags")


@dataclass(frozen=True)
class RemoteFile:
    """One archive of a downloadable dataset: where it is, how big, its checksum (``md5`` or
    ``sha256``, hex) and the folder under the data root it is extracted into."""

    url: str
    size: int
    md5: str = ""
    sha256: str = ""
    extract_to: str = ""

    def __post_init__(self) -> None:
        if not (re.fullmatch(r"[0-9a-f]{32}", self.md5) or re.fullmatch(r"[0-9a-f]{64}", self.sha256)):
            raise ValueError(f"{self.url}: give an md5 (32 hex digits) or a sha256 (64 hex digits) checksum")

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DatasetCheck:
    """What reading a dataset's annotations found: a one-line summary (e.g. image counts) and
    the image files they list, which ``data check --images`` decodes."""

    summary: str
    images: tuple[Path, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset ``dnn-suite data download`` can fetch into a data root, and how to check it.

    ``layout`` lists the paths under the root that must exist once every archive is
    extracted. ``verify(root)`` reads the annotations with the plugin's own readers and
    returns a one-line summary (e.g. image counts) or a :class:`DatasetCheck`, raising
    :class:`~dnn_suite.errors.UsageError` that says what is wrong or missing.
    """

    name: str
    description: str
    files: tuple[RemoteFile, ...]
    layout: tuple[str, ...]
    verify: Callable[[Path], str | DatasetCheck] | None = None


@dataclass(frozen=True)
class Origin:
    """Where a plugin came from: entry-point name, distribution and version, or a module."""

    plugin_name: str
    distribution: str
    version: str


@dataclass(frozen=True)
class Registered:
    spec: ModelSpec | ProfilerSpec | DatasetSpec | LoggerSpec
    plugin: object
    origin: Origin


@dataclass(frozen=True)
class BrokenPlugin:
    origin: Origin
    error: str


@dataclass
class Registry:
    models: dict[str, Registered] = field(default_factory=dict)
    profilers: dict[str, Registered] = field(default_factory=dict)
    datasets: dict[str, Registered] = field(default_factory=dict)
    loggers: dict[str, Registered] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    #: the plugin manager holding every loaded plugin (for hooks such as ``analyze``)
    manager: Any = None

    def add_model(self, spec: ModelSpec, plugin: object, origin: Origin) -> None:
        if spec.name in self.models:
            other = self.models[spec.name].origin
            raise ValueError(f"model {spec.name!r} is already registered by {other.plugin_name} ({other.distribution})")
        self.models[spec.name] = Registered(spec, plugin, origin)

    def add_profiler(self, spec: ProfilerSpec, plugin: object, origin: Origin) -> None:
        taken = self._profiler_names()
        for name in (spec.name, *spec.aliases):
            if name in taken:
                raise ValueError(f"profiler name {name!r} is already taken by profiler {taken[name]!r}")
        self.profilers[spec.name] = Registered(spec, plugin, origin)

    def add_dataset(self, spec: DatasetSpec, plugin: object, origin: Origin) -> None:
        if spec.name in self.datasets:
            other = self.datasets[spec.name].origin
            raise ValueError(f"dataset {spec.name!r} is already registered by {other.plugin_name} ({other.distribution})")
        self.datasets[spec.name] = Registered(spec, plugin, origin)

    def add_logger(self, spec: LoggerSpec, plugin: object, origin: Origin) -> None:
        if spec.name in self.loggers:
            other = self.loggers[spec.name].origin
            raise ValueError(f"logger {spec.name!r} is already registered by {other.plugin_name} ({other.distribution})")
        self.loggers[spec.name] = Registered(spec, plugin, origin)

    def logger(self, name: str) -> Registered:
        if name not in self.loggers:
            raise UsageError(_unknown("logger", name, list(self.loggers), sorted(self.loggers)))
        return self.loggers[name]

    def dataset(self, name: str) -> DatasetSpec:
        if name not in self.datasets:
            raise UsageError(_unknown("dataset", name, list(self.datasets), sorted(self.datasets),
                                      listing="dnn-suite data list"))
        spec = self.datasets[name].spec
        assert isinstance(spec, DatasetSpec)
        return spec

    def _profiler_names(self) -> dict[str, str]:
        names = {}
        for name, entry in self.profilers.items():
            names[name] = name
            for alias in entry.spec.aliases:
                names[alias] = name
        return names

    def model(self, name: str) -> tuple[Registered, str | None]:
        """Resolve ``efficientdet`` or ``efficientdet-d3`` to (model, variant or None)."""
        if name in self.models:
            return self.models[name], None
        for model_name, entry in self.models.items():
            prefix = model_name + "-"
            if name.startswith(prefix) and name[len(prefix):] in entry.spec.variants:
                return entry, name[len(prefix):]
        candidates = list(self.models) + [f"{m}-{v}" for m, e in self.models.items() for v in e.spec.variants]
        raise UsageError(_unknown("model", name, candidates, sorted(self.models)))

    def profiler(self, name: str) -> Registered:
        names = self._profiler_names()
        if name not in names:
            raise UsageError(_unknown("profiler", name, list(names), sorted(self.profilers)))
        return self.profilers[names[name]]


#: an unknown name's message lists the names when there are at most this many, else points at the listing command
LISTED_AT_MOST = 12


def _unknown(kind: str, name: str, candidates: Iterable[str], available: list[str],
             listing: str = "dnn-suite list") -> str:
    """One line: the name, up to three close matches, and the names (or where to see them, for many)."""
    candidates = list(candidates)
    close = [c for c in candidates if c.lower() == name.lower()] or difflib.get_close_matches(
        name, candidates, n=3, cutoff=0.6)
    hint = f"; did you mean {_one_of(close)}?" if close else ""
    if not available:
        names = "none installed"
    elif len(available) <= LISTED_AT_MOST:
        names = f"available: {', '.join(available)}"
    else:
        names = f"`{listing}` shows all {len(available)}"
    return f"unknown {kind} {name!r}{hint} ({names})"


def _one_of(names: list[str]) -> str:
    """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def check_variant(spec: ModelSpec, variant: str) -> str:
    if variant not in spec.variants:
        raise UsageError(_unknown(f"variant of {spec.name}", variant, spec.variants, list(spec.variants)))
    return variant
