"""Data pipeline: images/s the default training loader delivers vs images/s the model consumes.

Loader: the plugin's training dataset and loader exactly as ``dnn-suite run`` builds them
(decode JPEG, flip, scale jitter 0.1-2.0 with crop, resize, normalise, pad to 512; batch 4;
the default 2 worker processes, persistent), timed from a fresh iterator to its ``--batches``-th
batch, so the time to fill the pipeline is included. Two datasets:

* ``synthetic``: the built-in synthetic data (JPEGs with a 512 px longer side), VOC reader;
* ``voc``: VOC2007 layout read as ``voc2007-trainval`` -- the real one with ``--voc-root DIR``
  (the directory holding VOCdevkit/), otherwise a stand-in generated once: VOC-sized JPEGs
  (longer side 500) with VOC class names in the XML.

Model: our training step (sides.py, D0 at 512, batch 4, default mode) on a fixed batch.
Loader and model alternate (ABBA) in one process; the ratio loader/model is the headroom
(target >= 3). Measured with the loader alone: in a real run the workers share the CPU with
the step, which is what the harness's "data loading share" (benchmarks/harness.py) shows.

    .venv/bin/python benchmarks/data_pipeline.py [--quick] [--rounds N] [--batches N] [--voc-root DIR]
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import ab
import sides

TARGET = 3.0


def voc_standin(root: Path, images: int) -> Path:
    """VOCdevkit/VOC2007 with ``images`` trainval images: the synthetic generator at VOC's size,
    class names mapped to VOC's."""
    from dnn_suite_detection.data import SHAPE_CLASSES, VOC_CLASSES, ensure_synthetic

    source = ensure_synthetic(root / "source", num_train=images, num_val=0, image_size=500, seed=1)
    voc = root / "VOCdevkit" / "VOC2007"
    if (voc / "ImageSets" / "Main" / "trainval.txt").is_file():
        return root
    synthetic = source / "VOCdevkit" / "VOCsynthetic"
    (voc / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    (voc / "Annotations").mkdir(exist_ok=True)
    if not (voc / "JPEGImages").exists():
        (voc / "JPEGImages").symlink_to(synthetic / "JPEGImages")
    for xml in (synthetic / "Annotations").glob("*.xml"):
        text = xml.read_text()
        for shape, name in zip(SHAPE_CLASSES, VOC_CLASSES):
            text = text.replace(f"<name>{shape}</name>", f"<name>{name}</name>")
        (voc / "Annotations" / xml.name).write_text(text)
    shutil.copy(synthetic / "ImageSets" / "Main" / "train.txt", voc / "ImageSets" / "Main" / "trainval.txt")
    return root


def loader_side(name: str, dataset_name: str, root: Path, batches: int, batch_size: int, workers: int,
                image_size: int) -> ab.Side:
    from dnn_suite_detection.data import SyntheticConfig, build_dataset, build_loader

    dataset = build_dataset(dataset_name, root, train=True, image_size=image_size,
                            synthetic=SyntheticConfig(image_size=image_size))
    loader = build_loader(dataset, batch_size, shuffle=True, workers=workers, pin_memory=False, drop_last=True, seed=0)

    def run() -> None:
        iterator = iter(loader)
        for _ in range(batches):
            next(iterator)

    return ab.Side(name, run, items=batches * batch_size)


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=5, quick_rounds=2)
    p.add_argument("--batches", type=int, default=None, help="batches per loader measurement (default 25; --quick 10)")
    p.add_argument("--workers", type=int, default=2, help="loader worker processes (default 2, the suite's default)")
    p.add_argument("--voc-root", type=Path, default=None, help="a real VOC data root (holding VOCdevkit/)")
    args = ab.parse(p, argv)
    batches = args.batches or (10 if args.quick else 25)
    size, batch = 512, 4
    results = ab.header("data pipeline: default loader vs model consumption", args, image_size=size,
                        batch_size=batch, workers=args.workers, batches=batches, target=TARGET)
    with tempfile.TemporaryDirectory(prefix="dnn-suite-data-") as tmp:
        tmp = Path(tmp)
        voc_root = args.voc_root or voc_standin(tmp / "voc", images=max(128, batches * batch * 2))
        model = ab.Side("model (training step, D0 512 b4)", sides.ours_train("d0", size, batch), items=batch)
        loaders = [
            loader_side("loader synthetic", "synthetic-train", tmp / "synthetic", batches, batch, args.workers, size),
            loader_side(f"loader VOC2007 ({'real' if args.voc_root else 'stand-in'})", "voc2007-trainval", voc_root,
                        batches, batch, args.workers, size),
        ]
        for loader in loaders:
            model.times.clear()
            ab.alternate([loader, model], args.rounds, label=f"{loader.name} ")
            # "speed-up" of the loader over the model = how many times faster it delivers than the model eats
            ab.compare(results, f"{loader.name} vs model consumption", loader, model, target=TARGET, unit="images")
    ab.finish(results, args)


if __name__ == "__main__":
    main()
