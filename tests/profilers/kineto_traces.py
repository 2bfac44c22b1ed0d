"""Hand-made PyTorch profiler (kineto) traces: the Chrome-trace JSON ``torch.profiler`` writes,
with only the fields the reader uses. Times are given in microseconds, as kineto writes them.

``Trace.kernel(..., launch=(ts, dur))`` adds the ``cudaLaunchKernel`` runtime call that
launched it (same correlation id) and, with ``op=``, the CPU operator whose External id the
kernel carries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA_LOADER = "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"


class Trace:
    def __init__(self, rank: int | None = None, num_sms: int = 80) -> None:
        self.events: list[dict[str, Any]] = []
        self.correlation = 0
        self.external = 0
        self.rank = rank
        self.num_sms = num_sms

    # host side
    def host(self, cat: str, name: str, ts: float, dur: float, **args: Any) -> dict[str, Any]:
        event = {"ph": "X", "cat": cat, "name": name, "pid": 1, "tid": 1, "ts": ts, "dur": dur, "args": args}
        self.events.append(event)
        return event

    def step(self, number: int, ts: float, dur: float) -> None:
        self.host("user_annotation", f"ProfilerStep#{number}", ts, dur)

    def annotation(self, name: str, ts: float, dur: float) -> None:
        self.host("user_annotation", name, ts, dur)

    def cpu_op(self, name: str, ts: float, dur: float) -> int:
        """A CPU operator; returns its External id."""
        self.external += 1
        self.host("cpu_op", name, ts, dur, **{"External id": self.external})
        return self.external

    def runtime(self, name: str, ts: float, dur: float) -> None:
        self.host("cuda_runtime", name, ts, dur)

    # device side
    def device(self, cat: str, name: str, ts: float, dur: float, *, stream: int = 7, device: int = 0,
               launch: tuple[float, float] | None = None, launcher: str = "cudaLaunchKernel",
               op: tuple[str, float, float] | None = None, **args: Any) -> None:
        self.correlation += 1
        external = self.cpu_op(*op) if op else None
        ids = {"correlation": self.correlation, **({"External id": external} if external else {})}
        self.events.append({"ph": "X", "cat": cat, "name": name, "pid": device, "tid": stream, "ts": ts, "dur": dur,
                            "args": {"device": device, "stream": stream, **ids, **args}})
        if launch is not None:
            self.host("cuda_runtime", launcher, launch[0], launch[1], **ids)

    def kernel(self, name: str, ts: float, dur: float, *, blocks: float | None = None,
               occupancy: float | None = None, **kw: Any) -> None:
        extra = {}
        if blocks is not None:
            extra["blocks per SM"] = blocks
        if occupancy is not None:
            extra["est. achieved occupancy %"] = occupancy
        self.device("kernel", name, ts, dur, **kw, **extra)

    def memcpy(self, ts: float, dur: float, nbytes: int = 4096, **kw: Any) -> None:
        kw.setdefault("launcher", "cudaMemcpyAsync")
        self.device("gpu_memcpy", "Memcpy HtoD (Pageable -> Device)", ts, dur, bytes=nbytes, **kw)

    def memset(self, ts: float, dur: float, nbytes: int = 4096, **kw: Any) -> None:
        kw.setdefault("launcher", "cudaMemsetAsync")
        self.device("gpu_memset", "Memset (Device)", ts, dur, bytes=nbytes, **kw)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"schemaVersion": 1,
                               "deviceProperties": [{"id": 0, "name": "X", "numSms": self.num_sms}],
                               "traceEvents": self.events}
        if self.rank is not None:
            doc["distributedInfo"] = {"backend": "nccl", "rank": self.rank, "world_size": 2}
        return doc

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.document()))  # Python's json: NaN becomes the literal NaN
        return path


def analyze(trace: Trace, tmp_path: Path, name: str = "t.pt.trace.json"):
    """The analysis of ``trace`` written to ``tmp_path/name``, read back as a real file."""
    from dnn_suite_profilers.analyzers.kineto import analyze_kineto

    return analyze_kineto(trace.write(tmp_path / name))


def value(analysis, key: str):
    return analysis.metrics[key].value
