"""How busy the machine was while a run measured: the CPU time other processes took.

A benchmark on a shared machine measures the others too: on 2 cores, one busy neighbour can
move a CPU run's throughput by a third. The load average says little about that (it counts
the run's own threads and lags by a minute), so the meter reads the machine's CPU time
(``psutil.cpu_times``: every core's non-idle time) and this run's own (its processes: the
process, its data-loader workers, the other ranks of a multi-process run) at the start and
the end of the measured windows; the difference is the CPU time other processes took. As a
share of the machine's CPU time over the same wall time it is comparable across machines.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

import psutil

#: other processes' share of the machine's CPU time above which a run counts as measured on a busy machine
BUSY_SHARE = 0.10


@dataclass(frozen=True)
class MachineLoad:
    """run.json's ``machine_load``: over the measured windows."""

    wall_s: float
    cpus: int
    own_cpu_s: float
    """CPU time of this run's processes."""
    others_cpu_s: float
    """CPU time of processes that are not this run's."""
    others_share: float
    """``others_cpu_s / (wall_s * cpus)``: 0 on an idle machine, 1 when others kept every core busy."""
    load_average_start: float
    load_average_end: float
    """The 1-minute load average (runnable threads, this run's included) at the start and the end."""

    @property
    def busy(self) -> bool:
        return self.others_share > BUSY_SHARE

    def to_json(self) -> dict[str, float | int | bool]:
        return {**asdict(self), "busy": self.busy}


def _busy_seconds(times: psutil._common.scputimes) -> float:  # type: ignore[name-defined]
    """Non-idle CPU time of the whole machine (guest time is already inside user time)."""
    return sum(getattr(times, field) for field in ("user", "nice", "system", "irq", "softirq", "steal")
               if hasattr(times, field))


class LoadMeter:
    """Started where the measurement starts, read where it ends. ``own_root`` is the process whose
    tree is this run (the run's process, or the launcher whose children are the ranks)."""

    def __init__(self, own_root: psutil.Process | None = None) -> None:
        self._root = own_root or psutil.Process()
        self._own_start = self._own_cpu_s()
        self._machine_start = _busy_seconds(psutil.cpu_times())
        self._wall_start = time.perf_counter()
        self._load_start = os.getloadavg()[0]

    def _own_cpu_s(self) -> dict[int, float]:
        """CPU time (user + system) of each process of the run, by pid."""
        seconds = {}
        for process in [self._root, *self._root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            seconds[process.pid] = times.user + times.system
        return seconds

    def read(self) -> MachineLoad:
        wall = time.perf_counter() - self._wall_start
        machine = _busy_seconds(psutil.cpu_times()) - self._machine_start
        own_end = self._own_cpu_s()
        # a process of the run that started during the windows counts from 0; one that ended is not seen
        own = sum(seconds - self._own_start.get(pid, 0.0) for pid, seconds in own_end.items())
        cpus = psutil.cpu_count() or 1
        others = max(0.0, machine - own)
        return MachineLoad(wall_s=round(wall, 3), cpus=cpus, own_cpu_s=round(own, 3), others_cpu_s=round(others, 3),
                           others_share=round(others / (wall * cpus), 4) if wall > 0 else 0.0,
                           load_average_start=round(self._load_start, 2),
                           load_average_end=round(os.getloadavg()[0], 2))
