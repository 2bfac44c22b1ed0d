"""Whether a run that says ``running`` still is.

A process killed with SIGKILL (the kernel's out-of-memory killer, ``kill -9``, a scheduler past
its grace period) cannot write anything, so its run.json keeps ``status: running``. While it
runs, run.json records the process (``process``: pid, host, start time); a reader on the same
host shows such a run as ``crashed`` when that pid is gone or now belongs to a process started at
another time (pids are reused). On another host nothing can be checked: it stays ``running``,
marked as unverified.
"""

from __future__ import annotations

import socket
from typing import Any

import psutil

CRASHED = "crashed"
# Process start times are whole clock ticks (1/100 s on Linux) read back as floats.
_SAME_START_S = 0.05


def this_process() -> dict[str, Any]:
    """The ``process`` record of run.json: this process's pid, host and start time (epoch s)."""
    process = psutil.Process()
    return {"pid": process.pid, "host": socket.gethostname(), "started": process.create_time()}


def is_alive(record: dict[str, Any]) -> bool | None:
    """Whether the recorded process still runs; None when it ran on another host."""
    if record.get("host") != socket.gethostname():
        return None
    try:
        started = psutil.Process(int(record["pid"])).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, TypeError, ValueError):
        return False
    return abs(started - float(record.get("started") or 0)) < _SAME_START_S


def status(document: dict[str, Any]) -> str:
    """The run's status as it should be shown: ``crashed`` for a running run whose process is gone."""
    recorded = str(document.get("status", "?"))
    record = document.get("process")
    if recorded == "running" and isinstance(record, dict) and is_alive(record) is False:
        return CRASHED
    return recorded


def describe(document: dict[str, Any]) -> str:
    """The status with its reason in a few words (``crashed: process 123 on h is gone ...``)."""
    shown = status(document)
    record = document.get("process") if isinstance(document.get("process"), dict) else {}
    if shown == CRASHED:
        return (f"{CRASHED}: process {record.get('pid')} on {record.get('host')} ended without recording "
                "its end (killed, e.g. by SIGKILL or the out-of-memory killer)")
    if shown == "running" and record and is_alive(record) is None:
        return f"running (unverified: process {record.get('pid')} runs on host {record.get('host')})"
    return shown + (f": {document['error']}" if document.get("error") else "")
