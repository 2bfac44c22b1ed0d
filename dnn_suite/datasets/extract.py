"""Extracting downloaded archives without writing outside the destination.

Tar archives go through tarfile's ``data`` filter (PEP 706): it refuses absolute paths,
members whose path leaves the destination, links that point outside it, device files, and
strips dangerous permission bits, member by member before anything of that member is
written. Zip archives are checked whole before the first member is written: every member's
resolved path must stay inside the destination (zipfile itself creates no links).
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from dnn_suite.errors import UsageError
from dnn_suite.progress import track


def extract(archive: Path, destination: Path) -> int:
    """Extract ``archive`` (tar, possibly compressed, or zip) into ``destination``; returns
    the number of members. Raises :class:`UsageError` for an unsafe or unreadable archive."""
    destination.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, destination)
    if tarfile.is_tarfile(archive):
        return _extract_tar(archive, destination)
    raise UsageError(f"{archive}: neither a tar nor a zip archive")


def _extract_tar(archive: Path, destination: Path) -> int:
    if not hasattr(tarfile, "data_filter"):
        raise UsageError("extracting tar archives safely needs tarfile's data filter (Python 3.10.12, 3.11.4 or "
                         "newer); upgrade Python")
    count = 0
    try:
        with tarfile.open(archive) as tar:
            for member in track(tar, label=f"extract {archive.name}", unit="files"):
                tar.extract(member, destination, filter="data")
                count += 1
    except tarfile.FilterError as exc:
        raise UsageError(f"{archive}: refusing the archive: {exc}") from exc
    except tarfile.TarError as exc:
        raise UsageError(f"{archive}: unreadable tar archive ({exc})") from exc
    return count


def _extract_zip(archive: Path, destination: Path) -> int:
    root = destination.resolve()
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            for member in members:
                name = PurePosixPath(member.filename.replace("\\", "/"))
                if name.is_absolute() or not (root / name).resolve().is_relative_to(root):
                    raise UsageError(f"{archive}: refusing the archive: member {member.filename!r} would be "
                                     f"written outside {destination}")
            for member in track(members, label=f"extract {archive.name}", unit="files"):
                zipped.extract(member, destination)
    except zipfile.BadZipFile as exc:
        raise UsageError(f"{archive}: unreadable zip archive ({exc})") from exc
    return len(members)
