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
from dnn_suite.errors import UsageError, one_line, reason
from dnn_suite.datasets.extract import extract
from dnn_suite.datasets.images import unreadable_images
from dnn_suite.registry import DatasetCheck, DatasetSpec, RemoteFile, Registry

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
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # the root a file, or not writable
        raise UsageError(f"--root {root}: cannot create {folder} in it ({reason(error)}); "
                         "expected a directory this user can write") from None
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


def _problems(spec: DatasetSpec, root: Path) -> tuple[str | None, DatasetCheck]:
    """(what is wrong or None, what reading it found) of one dataset under ``root``."""
    missing = [path for path in spec.layout if not (root / path).exists()]
    if missing:
        return f"missing {', '.join(missing)}", DatasetCheck("")
    if spec.verify is None:
        return None, DatasetCheck("layout complete")
    try:
        found = spec.verify(root)
    except UsageError as exc:
        return one_line(exc), DatasetCheck("")
    return None, found if isinstance(found, DatasetCheck) else DatasetCheck(found)


def _present(registry: Registry, root: Path) -> list[DatasetSpec]:
    """The datasets found under ``root``: those whose layout is complete, and those with a path
    there that no complete dataset explains (``coco2017-val`` complete does not make
    ``coco2017``, which shares its val2017 paths, look half-downloaded)."""
    specs = [registry.dataset(name) for name in sorted(registry.datasets)]
    complete = [spec for spec in specs if all((root / path).exists() for path in spec.layout)]
    covered = {path for spec in complete for path in spec.layout}
    return [spec for spec in specs if spec in complete
            or any((root / path).exists() for path in spec.layout if path not in covered)]


def _check_spec(spec: str, registry: Registry) -> DatasetCheck:
    """A dataset outside the catalogue (``voc:DIR``), read by the plugin whose spec it is."""
    found = registry.manager.hook.dnn_suite_check_dataset(spec=spec) if registry.manager else None
    if found is None:
        raise UsageError(f"unknown dataset {spec!r}: neither a catalogue name ({', '.join(sorted(registry.datasets))}) "
                         "nor a spec a plugin reads (such as voc:DIR or coco:FILE.json)")
    return found


def _report_unreadable(name: str, found: DatasetCheck, workers: int | None) -> bool:
    """Decode every image of ``found``; print each that fails. True when all decode."""
    bad = unreadable_images(found.images, workers=workers, label=f"{name} images")
    for path, problem in bad:
        print(f"  unreadable image {path}: {problem}")
    print(f"{name:<14} {'ok' if not bad else 'BAD IMAGES':<10} {len(found.images)} images decoded: "
          f"{len(bad)} unreadable or truncated")
    return not bad


def check(names: list[str], registry: Registry, root: Path | None, *, images: bool = False,
          workers: int | None = None) -> int:
    """``dnn-suite data check [NAME|SPEC...] [--root DIR] [--images]``: the layout and annotations of
    each named dataset (or of every known dataset that is at least partly present under the root)
    and of each spec (``voc:DIR``); ``images`` also decodes every image. Exit 2 if any is
    incomplete or unreadable, saying what is missing and how to get it."""
    catalogued = [name for name in names if name in registry.datasets or ":" not in name]
    if root is None and (catalogued or not names):
        raise UsageError("--root DIR is needed to check catalogue datasets (voc:DIR and coco:FILE specs need none)")
    if root is not None and not root.is_dir():
        raise UsageError(f"--root {root}: no such directory")
    specs = [registry.dataset(name) for name in catalogued] or ([] if names else _present(registry, root))
    if not specs and not names:
        raise UsageError(f"no known dataset found under {root} (known: {', '.join(sorted(registry.datasets))}); "
                         f"get one with `dnn-suite data download NAME --root {root}`")
    failed, bad_images = [], []
    for spec in specs:
        problem, found = _problems(spec, root)
        print(f"{spec.name:<14} {'ok' if problem is None else 'INCOMPLETE':<10} {problem or found.summary}")
        if problem is not None:
            failed.append(spec.name)
        elif images and not _report_unreadable(spec.name, found, workers):
            bad_images.append(spec.name)
    for name in names:
        if name not in catalogued:
            found = _check_spec(name, registry)
            print(f"{name:<14} {'ok':<10} {found.summary}")
            if images and not _report_unreadable(name, found, workers):
                bad_images.append(name)
    if failed:
        print(f"dnn-suite: error: {', '.join(failed)} incomplete under {root}; "
              f"`dnn-suite data download {' '.join(failed)} --root {root}` fetches what is missing", file=sys.stderr)
        return 2
    if bad_images:
        print(f"dnn-suite: error: unreadable or truncated images in {', '.join(bad_images)} (listed above); "
              "replace or remove them before training", file=sys.stderr)
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
