"""Resumable, checksummed HTTP downloads for ``dnn-suite data download``.

A file is fetched into ``<name>.part``; when the connection drops, the next attempt (or the
next run) asks the server for the rest with an HTTP ``Range`` header and appends. Only a
file whose size and checksum match the catalogue is renamed to its final name. A checksum
mismatch removes the ``.part`` file: resuming a corrupt prefix could never succeed, so the
next run starts over.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from dnn_suite.errors import RunFailed, UsageError
from dnn_suite.progress import ProgressBar, progress
from dnn_suite.registry import RemoteFile

CHUNK = 1 << 20
ATTEMPTS = 3
TIMEOUT_S = 60
MIB = 2**20


def mirrored(url: str, mirror: str | None) -> str:
    """``url`` with its scheme and host replaced by the ``mirror`` base URL, path kept:
    ``http://host/pascal/VOC/x.tar`` with mirror ``http://local:8000/m`` is
    ``http://local:8000/m/pascal/VOC/x.tar``."""
    if not mirror:
        return url
    parts = urlsplit(url)
    return mirror.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def fetch(file: RemoteFile, url: str, folder: Path) -> Path:
    """Download ``file`` from ``url`` into ``folder`` (resuming a ``.part`` left there),
    verify it and return its final path."""
    final = folder / file.name
    part = folder / f"{file.name}.part"
    error: Exception | None = None
    with progress(total=file.size / MIB, label=file.name, unit="MiB") as bar:
        for _ in range(ATTEMPTS):
            try:
                _get(url, part, file.size, bar)
            except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
                error = exc
            if part.exists() and part.stat().st_size == file.size:
                break
        else:
            done = part.stat().st_size if part.exists() else 0
            raise RunFailed(f"{url}: download stopped at {done} of {file.size} bytes ({error or 'short read'}); "
                            f"run the command again to resume from {part}")
    _verify(part, file, url)
    os.replace(part, final)
    return final


def _get(url: str, part: Path, size: int, bar: ProgressBar) -> None:
    """Append the rest of ``url`` to ``part``; starts over when the server ignores the range."""
    offset = part.stat().st_size if part.exists() else 0
    if offset >= size:  # complete already, or longer than it should be: let the checksum decide
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 403, 401, 410):
            raise UsageError(f"{url}: HTTP {exc.code} {exc.reason} (check the URL or --mirror)") from exc
        raise
    resumed = response.status == 206
    with response, open(part, "ab" if resumed else "wb") as out:
        bar.update((offset if resumed else 0) / MIB - bar.count)  # the bar shows the size of the .part file
        while chunk := response.read(CHUNK):
            out.write(chunk)
            bar.update(len(chunk) / MIB)


def _verify(path: Path, file: RemoteFile, url: str) -> None:
    algorithm, expected = ("md5", file.md5) if file.md5 else ("sha256", file.sha256)
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        path.unlink()
        raise UsageError(f"{url}: {algorithm} mismatch (expected {expected}, got {digest.hexdigest()}); "
                         "the download was removed, run the command again to fetch it anew")
