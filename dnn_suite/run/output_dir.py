"""The output directory (``--output``): a new run directory in it for each run, and the check
that a folder takes files before anything runs.

A run directory is created exclusively (with a numeric suffix if the name is taken), so no run
ever writes into another's.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from dnn_suite.errors import UsageError

#: the version of the records a run writes in its directory (run.json, train.json, eval.json, sweep.json)
SCHEMA_VERSION = 1


def new_run_dir(output: str | Path, name: str) -> Path:
    """Create a fresh directory ``output/<timestamp>_<name>`` (suffixed if it exists).

    An unusable output (a file, a read-only or full file system, no permission) is a
    :class:`UsageError` here, before anything runs: the new directory must take a file of
    :data:`PROBE_BYTES`, which is tried and removed.
    """
    root = Path(output)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:
        raise UsageError(f"output directory {root}: is a file; expected a directory (created if missing)") from e
    except OSError as e:
        raise UsageError(f"output directory {root}: cannot create it ({e.strerror}); "
                         "expected a directory that exists or can be created") from e
    base = f"{time.strftime('%Y%m%d-%H%M%S')}_{name}"
    for attempt in range(1, 1000):
        candidate = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise UsageError(f"output directory {root}: cannot create a run directory in it ({e.strerror}); "
                             "expected a writable directory") from e
        try:
            check_writable(candidate, f"output directory {root}")
        except UsageError:
            candidate.rmdir()
            raise
        return candidate
    raise UsageError(f"output directory {root}: 999 run directories named {base} already exist; expected fewer")


PROBE_BYTES = 64 * 1024
"""What a folder must take before a run writes in it: more than run.json and the CSVs of a short run."""


def check_writable(folder: Path, what: str) -> None:
    """Raise :class:`UsageError` unless a file of :data:`PROBE_BYTES` can be written (and
    flushed to disk) in ``folder``. Trying is the only test that holds for root, for whom
    permission bits do not apply but read-only mounts, immutable folders and full disks do."""
    probe = folder / f".dnn-suite-probe.{os.getpid()}"
    try:
        with open(probe, "wb") as handle:
            handle.write(bytes(PROBE_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as e:
        raise UsageError(f"{what}: cannot write in {folder} ({e.strerror}); "
                         "expected a writable directory with free space") from e
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
