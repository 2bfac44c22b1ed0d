"""NVML samples: the CSV the NVML sampler writes, and its per-device summary.

One row per (sample time, device); an empty cell is a value NVML could not give (for example
the energy counter, which older GPUs lack). The writer and the reader share
:class:`NvmlSample`, so the schema lives in one place.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np

from dnn_suite.errors import UsageError
from dnn_suite.metrics import Metric

from .base import Analysis, Row
from .errors import InvalidProfileFile
from .textfile import open_text, parse_number


@dataclass(frozen=True)
class NvmlSample:
    timestamp_s: float
    """Seconds on a monotonic clock (only differences matter)."""
    device_index: int
    gpu_util_pct: float | None = None
    mem_util_pct: float | None = None
    mem_used_bytes: int | None = None
    power_w: float | None = None
    energy_mj: int | None = None
    """``nvmlDeviceGetTotalEnergyConsumption``: mJ since the driver was loaded."""
    sm_clock_mhz: float | None = None
    temperature_c: float | None = None


NVML_COLUMNS = tuple(f.name for f in fields(NvmlSample))
_INTEGER_COLUMNS = {"device_index", "mem_used_bytes", "energy_mj"}
_REQUIRED_COLUMNS = {"timestamp_s", "device_index"}
EXPECTED = "an NVML samples CSV with header " + ",".join(NVML_COLUMNS)


def write_nvml_samples(path: Path, samples: Iterable[NvmlSample]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(NVML_COLUMNS)
        writer.writerows(astuple(sample) for sample in samples)  # csv writes None as an empty cell


def read_nvml_samples(path: Path) -> list[NvmlSample]:
    with open_text(path, EXPECTED) as f:
        reader = csv.reader(f)
        if next(reader, None) != list(NVML_COLUMNS):
            raise InvalidProfileFile(path, "the first line is not the NVML samples header", EXPECTED)
        return [_sample(path, reader.line_num, row) for row in reader if row]


def is_nvml_header(line: str) -> bool:
    return next(csv.reader([line]), []) == list(NVML_COLUMNS)


def analyze_nvml(path: Path, training_samples: int | None = None) -> Analysis:
    """Summarize an NVML samples CSV; ``training_samples`` (items processed) adds J per sample."""
    samples = read_nvml_samples(path)
    if not samples:
        raise InvalidProfileFile(path, "no samples", EXPECTED)
    return summarize_nvml(samples, path, training_samples)


def summarize_nvml(samples: Sequence[NvmlSample], source: Path, training_samples: int | None = None) -> Analysis:
    """Per device: GPU utilization mean/median/p95, mean memory utilization, peak memory used,
    mean power, SM clock, peak temperature, and energy.

    Energy is the difference of the energy counter between the first and the last sample when
    every sample of the device has it, else the trapezoidal integral of power over time.
    """
    if training_samples is not None and training_samples <= 0:
        raise UsageError(f"training sample count must be positive to compute energy per sample, got {training_samples}")
    per_device = {
        device: _device_summary(sorted((s for s in samples if s.device_index == device), key=lambda s: s.timestamp_s))
        for device in sorted({s.device_index for s in samples})
    }
    energies = [values["energy"].value for values, _ in per_device.values()]
    total_energy = float(sum(energies)) if energies and None not in energies else None
    utils = [values["gpu_util_mean"].value for values, _ in per_device.values()]
    metrics = {
        "energy": Metric(total_energy, "J", "GPU energy, all devices"),
        "gpu_util_mean": Metric(
            float(np.mean(utils)) if utils and None not in utils else None,
            "%",
            "mean GPU utilization, mean over devices",
        ),
    }
    if training_samples is not None:
        metrics["energy_per_sample"] = Metric(
            None if total_energy is None else total_energy / training_samples,
            "J/sample",
            f"GPU energy, all devices / {training_samples} training samples",
        )
    rows: list[Row] = []
    units: dict[str, str] = {}
    for device, (values, energy_source) in per_device.items():
        metrics.update({f"gpu{device}.{key}": metric for key, metric in values.items()})
        rows.append({"device": device, **{key: m.value for key, m in values.items()}, "energy_source": energy_source})
        units.update({key: m.unit for key, m in values.items()})
    return Analysis("nvml", source, metrics, {"per_device": rows}, column_units={"per_device": units})


def _device_summary(samples: list[NvmlSample]) -> tuple[dict[str, Metric], str | None]:
    """Metrics of one device's samples (sorted by time), and where its energy came from."""
    util = _present(samples, "gpu_util_pct")
    used = _present(samples, "mem_used_bytes")
    energy, energy_source = _energy_joules(samples)
    return {
        "samples": Metric(len(samples), "samples", "NVML samples"),
        "duration": Metric(samples[-1].timestamp_s - samples[0].timestamp_s, "s", "first to last sample"),
        "gpu_util_mean": Metric(_stat(np.mean, util), "%", "mean GPU utilization"),
        "gpu_util_median": Metric(_stat(np.median, util), "%", "median GPU utilization"),
        "gpu_util_p95": Metric(_stat(lambda v: np.percentile(v, 95), util), "%", "95th percentile GPU utilization"),
        "mem_util_mean": Metric(_stat(np.mean, _present(samples, "mem_util_pct")), "%", "mean memory utilization"),
        "mem_used_peak": Metric(int(used.max()) if used.size else None, "B", "peak memory used"),
        "power_mean": Metric(_stat(np.mean, _present(samples, "power_w")), "W", "mean power"),
        "sm_clock_mean": Metric(_stat(np.mean, _present(samples, "sm_clock_mhz")), "MHz", "mean SM clock"),
        "temperature_max": Metric(_stat(np.max, _present(samples, "temperature_c")), "degC", "peak temperature"),
        "energy": Metric(energy, "J", f"GPU energy ({energy_source})" if energy_source else "GPU energy"),
    }, energy_source


def _energy_joules(samples: list[NvmlSample]) -> tuple[float | None, str | None]:
    if len(samples) < 2:
        return None, None
    if all(s.energy_mj is not None for s in samples):
        return (samples[-1].energy_mj - samples[0].energy_mj) / 1000.0, "energy counter"
    powered = [s for s in samples if s.power_w is not None]
    if len(powered) < 2:
        return None, None
    t = np.array([s.timestamp_s for s in powered])
    p = np.array([s.power_w for s in powered])
    return float(((p[1:] + p[:-1]) / 2 * np.diff(t)).sum()), "power integrated over time"


def _stat(function: Callable[[np.ndarray], float], values: np.ndarray) -> float | None:
    return float(function(values)) if values.size else None


def _present(samples: list[NvmlSample], column: str) -> np.ndarray:
    return np.array([v for v in (getattr(s, column) for s in samples) if v is not None], dtype=float)


def _sample(path: Path, line: int, row: list[str]) -> NvmlSample:
    if len(row) != len(NVML_COLUMNS):
        raise InvalidProfileFile(path, f"line {line} has {len(row)} fields, not {len(NVML_COLUMNS)}", EXPECTED)
    values: dict[str, float | int | None] = {}
    for column, text in zip(NVML_COLUMNS, row, strict=True):
        value = parse_number(text)
        if value is None and (text.strip() or column in _REQUIRED_COLUMNS):
            raise InvalidProfileFile(path, f"line {line}: {column} is {text!r}, not a number", EXPECTED)
        if value is not None and not math.isfinite(value):
            raise InvalidProfileFile(path, f"line {line}: {column} is {text!r}, not a finite number", EXPECTED)
        if value is not None and column in _INTEGER_COLUMNS:
            if not value.is_integer():
                raise InvalidProfileFile(path, f"line {line}: {column} is {text!r}, not a whole number", EXPECTED)
            value = int(value)
        values[column] = value
    return NvmlSample(**values)
