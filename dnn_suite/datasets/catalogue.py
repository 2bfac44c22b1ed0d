"""``dnn-suite data``: download the datasets plugins declare (``dnn_suite_register_datasets``)
into a data root, and check a data root's layout and annotations.

Under the root, ``downloads/`` holds what is in flight: ``<archive>.part`` while downloading
(resumed by the next run), the verified archive while it is extracted, and
``<archive>.extracted`` once it is, so a second run skips it. Archives are deleted after
extraction unless ``--keep-archives``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dnn_suite.datasets.download import fetch, mirrored
from dnn_suite.errors import UsageError, one_line
from dnn_suite.datasets.extract import extract
from dnn_suite.registry import DatasetSpec, RemoteFile, Registry

DOWNLOADS = "downloads"
MIB = 2**20


def _marker(root: Path, file: RemoteFile) -> Path:
    return root / DOWNLOADS / f"{file.name}.extracted"


def _install(file: RemoteFile, root: Path, mirror: str | None, keep_archive: bool) -> None:
    """Download, verify and extract one archive, unless an earlier run did."""
    marker = _marker(root, file)
    if marker.exists():
        print(f"{file.name}: already downloaded and extracted", file=sys.stderr)
        return
    folder = root / DOWNLOADS
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / file.name
    if not archive.exists():  # an archive under its final name was verified by an earlier run
        url = mirrored(file.url, mirror)
        print(f"{file.name}: downloading {file.size / MIB:,.0f} MiB from {url}", file=sys.stderr)
        fetch(file, url, folder)
    members = extract(archive, root / file.extract_to)
    marker.write_text(f"{file.md5 or file.sha256}\n", encoding="utf-8")
    if not keep_archive:
        archive.unlink()
    print(f"{file.name}: extracted {members} files into {root / file.extract_to}", file=sys.stderr)


def download(names: list[str], registry: Registry, root: Path, *, mirror: str | None, keep_archives: bool) -> int:
    """``dnn-suite data download NAME... --root DIR``: fetch every archive of each dataset (an
    archive two datasets share, once), then check each dataset."""
    specs = [registry.dataset(name) for name in names]
    done: set[str] = set()
    for spec in specs:
        for file in spec.files:
            if file.url not in done:
                _install(file, root, mirror, keep_archives)
                done.add(file.url)
    return check([spec.name for spec in specs], registry, root)


def _problems(spec: DatasetSpec, root: Path) -> tuple[str | None, str]:
    """(what is wrong or None, summary) of one dataset under ``root``."""
    missing = [path for path in spec.layout if not (root / path).exists()]
    if missing:
        return f"missing {', '.join(missing)}", ""
    if spec.verify is None:
        return None, "layout complete"
    try:
        return None, spec.verify(root)
    except UsageError as exc:
        return one_line(exc), ""


def _present(registry: Registry, root: Path) -> list[DatasetSpec]:
    """The datasets found under ``root``: those whose layout is complete, and those with a path
    there that no complete dataset explains (``coco2017-val`` complete does not make
    ``coco2017``, which shares its val2017 paths, look half-downloaded)."""
    specs = [registry.dataset(name) for name in sorted(registry.datasets)]
    complete = [spec for spec in specs if all((root / path).exists() for path in spec.layout)]
    covered = {path for spec in complete for path in spec.layout}
    return [spec for spec in specs if spec in complete
            or any((root / path).exists() for path in spec.layout if path not in covered)]


def check(names: list[str], registry: Registry, root: Path) -> int:
    """``dnn-suite data check [NAME...] --root DIR``: the layout and annotations of each named
    dataset, or of every known dataset that is at least partly present. Exit 2 if any is
    incomplete or unreadable, saying what is missing and how to get it."""
    if not root.is_dir():
        raise UsageError(f"--root {root}: no such directory")
    specs = [registry.dataset(name) for name in names] or _present(registry, root)
    if not specs:
        raise UsageError(f"no known dataset found under {root} (known: {', '.join(sorted(registry.datasets))}); "
                         f"get one with `dnn-suite data download NAME --root {root}`")
    failed = []
    for spec in specs:
        problem, summary = _problems(spec, root)
        print(f"{spec.name:<14} {'ok' if problem is None else 'INCOMPLETE':<10} {problem or summary}")
        if problem is not None:
            failed.append(spec.name)
    if failed:
        print(f"dnn-suite: error: {', '.join(failed)} incomplete under {root}; "
              f"`dnn-suite data download {' '.join(failed)} --root {root}` fetches what is missing", file=sys.stderr)
        return 2
    return 0


def list_datasets(registry: Registry) -> int:
    """``dnn-suite data list``: every downloadable dataset, its size and who declares it."""
    for name, entry in sorted(registry.datasets.items()):
        spec = entry.spec
        assert isinstance(spec, DatasetSpec)
        size = sum(file.size for file in spec.files) / 2**30
        print(f"{name:<14} {size:7.1f} GiB  {spec.description}  [{entry.origin.distribution} {entry.origin.version}]")
    return 0
