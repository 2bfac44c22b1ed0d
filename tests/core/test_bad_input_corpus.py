"""A corpus of bad inputs from every place input comes from (the command line, suite.yaml,
--set, checkpoints, run directories, datasets, tool outputs): each must end in exit code 2
and one line on stderr that names the problem, with no traceback and no exception class name.
Only output locations are created; nothing else runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "profilers" / "fixtures"
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b|Traceback|Errno")


def check_one_line_error(result, *fragments: str) -> None:
    """Exit 2 and the error as the last line of stderr, the only one saying "error" (a run
    that found bad input while building has printed its start line before)."""
    assert result.code == 2, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert [line for line in lines if "error" in line.lower()] == lines[-1:], result.err
    assert lines[-1].startswith("dnn-suite: error: "), lines[-1]
    assert not CLASS_NAME.search(result.err), result.err
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


def _file(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _run_dir(tmp_path: Path, run_json: str | None) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    if run_json is not None:
        (folder / "run.json").write_text(run_json)
    return folder


LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n"
                 for i in range(9)) + "defaults:\n  batch_size: *l8\n"
MAPPING_BOMB = "".join(f"m{i}: &m{i} {{{', '.join(f'k{j}: *m{i - 1}' for j in range(9)) if i else 'k: v'}}}\n"
                       for i in range(9)) + "defaults:\n  model_options: *m8\n"
DEEP = "defaults:\n  model_options: " + "{a: " * 10000 + "1" + "}" * 10000 + "\n"

# name -> (build the arguments in tmp_path, fragments the message must contain)
CORPUS = {
    "output is a file": (lambda t: ["run", "tiny", "--output", _file(t, "results", "x")], ["is a file"]),
    "output under a file": (lambda t: ["run", "tiny", "--output", _file(t, "f", "x") / "sub"], ["Not a directory"]),
    "train output is a file": (lambda t: ["train", "tiny", "--steps", "1", "--output", _file(t, "r", "")],
                               ["is a file"]),
    "eval output is a file": (lambda t: ["eval", "tiny", "--output", _file(t, "r", "")], ["is a file"]),
    "sweep output is a file": (lambda t: ["run", "tiny", "--batch-size", "2,4", "--output", _file(t, "r", "")],
                               ["is a file"]),
    "output from --set is a file": (lambda t: ["run", "tiny", "--set", f"output={_file(t, 'r', '')}"],
                                    ["is a file"]),
    "config missing": (lambda t: ["run", "tiny", "--config", t / "none.yaml"], ["cannot read config file"]),
    "config is a directory": (lambda t: ["run", "tiny", "--config", t], ["config"]),
    "config not yaml": (lambda t: ["run", "tiny", "--config", _file(t, "s.yaml", "a: [1,\n")], ["s.yaml"]),
    "config binary": (lambda t: ["run", "tiny", "--config", _file(t, "s.yaml", b"\xff\xfe\x00\x01")], ["s.yaml"]),
    "config python tag": (lambda t: ["run", "tiny", "--config", _file(t, "s.yaml", "defaults: !!python/object:os.system {}\n")],
                          ["s.yaml"]),
    "config a list": (lambda t: ["run", "tiny", "--config", _file(t, "s.yaml", "- 1\n- 2\n")], ["s.yaml"]),
    "set bad number": (lambda t: ["run", "tiny", "--set", "batch_size=many"], ["batch_size"]),
    "config billion laughs": (lambda t: ["run", "tiny", "--config", _file(t, "s.yaml", LAUGHS)],
                              ["s.yaml", "more than 100,000 values once its aliases are expanded"]),
    "config alias bomb of mappings": (lambda t: ["run", "tiny", "--config", _file(t, "s.yaml", MAPPING_BOMB)],
                                      ["s.yaml", "more than 100,000 values"]),
    "config nested 10,000 deep": (lambda t: ["run", "tiny", "--config", _file(t, "s.yaml", DEEP)],
                                  ["s.yaml", "nested more than 64 levels deep"]),
    "set nested 3,000 deep": (lambda t: ["run", "tiny", "--set", "model_options=" + "{a: " * 3000 + "1" + "}" * 3000],
                              ["--set model_options", "nested more than 64 levels deep"]),
    "batch size of a billion": (lambda t: ["run", "tiny", "--batch-size", "1000000000"],
                                ["--batch-size", "up to 1,048,576"]),
    "seed beyond 64 bits": (lambda t: ["run", "tiny", "--seed", str(2**70)], ["--seed", "2**63 - 1"]),
    "cpu sampling interval 0": (lambda t: ["run", "tiny", "--profiler", "cpu", "--set",
                                           "profiler_options.cpu.interval_ms=0"],
                                ["profiler cpu option 'interval_ms'", "positive integer"]),
    "set bad yaml": (lambda t: ["run", "tiny", "--set", "model_options=[1,"], ["model_options"]),
    "resume missing": (lambda t: ["train", "tiny", "--steps", "1", "--resume", t / "none.pt"], ["none.pt"]),
    "resume elsewhere": (lambda t: ["train", "tiny", "--resume", t, "--output", t / "other"],
                         ["--output", "continues in its own directory", "leave out --output"]),
    "checkpoint garbage": (lambda t: ["eval", "efficientdet", "--image-size", "64",
                                      "--checkpoint", _file(t, "c.pt", "not a checkpoint")], ["c.pt"]),
    "checkpoint is a directory": (lambda t: ["eval", "efficientdet", "--image-size", "64", "--checkpoint", t],
                                  ["checkpoint"]),
    "batchnorm one value per channel": (lambda t: ["run", "efficientdet", "--image-size", "128",
                                                   "--batch-size", "1"], ["batch size 1", "--image-size 256"]),
    "batchnorm in a sweep": (lambda t: ["run", "efficientdet", "--image-size", "64", "--batch-size", "1,8"],
                             ["batch size 1"]),
    "backbone weights garbage": (lambda t: ["run", "efficientdet", "--image-size", "256", "--backbone-weights",
                                            _file(t, "w.pt", b"PK\x03\x04 not a zip")], ["w.pt"]),
    "sweep.json corrupt": (lambda t: ["report", _sweep_dir(t, "{")], ["sweep.json"]),
    "image size negative": (lambda t: ["run", "efficientdet", "--image-size", "-5"], ["image size"]),
    "image size not a number": (lambda t: ["run", "efficientdet", "--image-size", "big"], ["--image-size"]),
    "data root is a file": (lambda t: ["run", "efficientdet", "--dataset", "voc2007-trainval", "--image-size", "256",
                                       "--data-root", _file(t, "root", "")], ["root"]),
    "report of a file": (lambda t: ["report", _file(t, "x.txt", "x")], ["x.txt"]),
    "report of corrupt run.json": (lambda t: ["report", _run_dir(t, "{not json")], ["run.json"]),
    "report of run.json not an object": (lambda t: ["report", _run_dir(t, "[1, 2]")], ["run.json"]),
    "report of run.json with a bad config": (lambda t: ["report", _run_dir(t, '{"config": 3}')], ["run.json"]),
    "report output is a directory": (lambda t: ["report", _real_run(t), "--output", t], ["is a directory"]),
    "compare of another schema version": (
        lambda t: ["compare", _real_run(t), _run_dir(t, _run_json(schema_version=2, dnn_suite_version="9.0"))],
        ["schema version 2", "dnn-suite 9.0", "reads schema version 1"]),
    "report of a run whose process start is not a time": (
        lambda t: ["report", _run_dir(t, _run_json(status="running",
                                                   process={"pid": 1, "host": "h", "started": "yesterday"}))],
        ["run.json", "$.process.started"]),
    "report of a run whose metrics are a list": (lambda t: ["report", _run_dir(t, _run_json(metrics=[1]))],
                                                 ["run.json", "$.metrics"]),
    "analyze memory.json without its end breakdown": (lambda t: ["analyze", _memory_json_without_end(t)],
                                                      ["memory.json", "batch size 2", "`end`"]),
    "analyze NVML samples of device inf": (
        lambda t: ["analyze", _file(t, "nvml_samples.csv", (FIXTURES / "nvml_samples.csv").read_text()
                                    .replace("\n0.0,1,", "\n0.0,inf,", 1))],
        ["nvml_samples.csv", "line 3: device_index is 'inf', not a finite number"]),
    "compare missing": (lambda t: ["compare", t / "a", t / "b"], ["a"]),
    "compare corrupt": (lambda t: ["compare", _real_run(t), _run_dir(t, "{")], ["run.json"]),
    "analyze missing": (lambda t: ["analyze", t / "none.csv"], ["no such file"]),
    "analyze garbage": (lambda t: ["analyze", _file(t, "g.bin", bytes(range(256)))], ["g.bin"]),
    "analyze truncated sqlite": (lambda t: ["analyze", _file(t, "p.sqlite", b"SQLite format 3\x00" + bytes(50))],
                                 ["p.sqlite"]),
    "analyze ncu unknown unit": (lambda t: ["analyze", _file(t, "n.log", (FIXTURES / "ncu_old_columns.log")
                                                             .read_text().replace('"cycle"', '"fortnight"'))],
                                 ["'fortnight'", "gpc__cycles_elapsed.max"]),
    "analyze a device": (lambda t: ["analyze", "/dev/null"], ["not a regular file"]),
    "analyze empty run dir": (lambda t: ["analyze", _run_dir(t, None)], ["found no profiler artefact"]),
    "data check missing root": (lambda t: ["data", "check", "--root", t / "none"], ["none"]),
    "data download unknown": (lambda t: ["data", "download", "imagenet99", "--root", t], ["imagenet99"]),
    "voc empty image set": (lambda t: ["data", "check", f"voc:{_voc(t, empty='')}:empty"],
                            ["empty.txt", "lists no images"]),
    "voc VOCdevkit given for VOCdevkit/VOC2007": (lambda t: ["data", "check", f"voc:{_voc(t).parent}"],
                                                  ["not a VOC folder", "give voc:", "VOCdevkit/VOC2007"]),
    "voc box with NaN": (lambda t: ["data", "check", f"voc:{_voc(t, nan_box=True)}"],
                         ["img0000.xml", "<bndbox/xmin> is 'nan'; expected a finite number"]),
    "voc run with fewer images than a batch": (
        lambda t: ["run", "efficientdet", "--dataset", f"voc:{_voc(t)}:test", "--image-size", "64", "--batch-size",
                   "4", "--workers", "0", "--output", t / "out"],
        ["has 1 training images, fewer than one batch of 4", "lower --batch-size"]),
    "coco with zero images": (lambda t: ["data", "check", _coco(t, lambda d: d.update(images=[], annotations=[]))],
                              ["changed.json", "no images under 'images'"]),
    "coco two images of one id": (lambda t: ["data", "check", _coco(t, lambda d: d["images"].append(d["images"][0]))],
                                  ["changed.json", "images[2] has id 1, as images[0] does"]),
    "coco box with NaN": (lambda t: ["data", "check", _coco(t, lambda d: d["annotations"][0]["bbox"].__setitem__(
        0, float("nan")))], ["changed.json", "annotations[0].bbox is [nan", "(annotation id 1)", "finite numbers"]),
    "coco box of negative width": (lambda t: ["data", "check", _coco(t, lambda d: d["annotations"][0]["bbox"]
                                                                   .__setitem__(2, -4))],
                                   ["changed.json", "annotations[0].bbox", "w and h not negative"]),
    "coco images not where expected": (lambda t: ["data", "check", _coco(t, lambda d: None).rsplit(":", 1)[0]],
                                       ["its first image 000001.jpg is not in", "changed.json:IMAGES"]),
    "imagefolder of one class": (lambda t: ["data", "check", f"imagefolder:{_image_folder(t, {'cat': 4})}"],
                                 ["has one class folder (cat)", "training on one class measures nothing"]),
    "imagefolder jpg that is text": (
        lambda t: ["run", "resnet18", "--dataset", f"imagefolder:{_image_folder(t, {'cat': 2, 'dog': 2}, text=True)}",
                   "--image-size", "32", "--batch-size", "5", "--iterations", "1", "--warmup", "0", "--workers", "0",
                   "--output", t / "out"],
        ["cannot read image", "text.jpg: cannot identify image file; expected a JPEG, PNG"]),
    "data download into a file": (lambda t: ["data", "download", "voc2007", "--root", _file(t, "root", "")],
                                  ["--root", "cannot create", "expected a directory this user can write"]),
    "synthetic evaluation split of no images": (lambda t: ["eval", "resnet18", "--set", "model_options.synthetic_val=0",
                                                           "--output", t / "out"], ["synthetic_val", "positive"]),
    "imagefolder run with fewer images than a batch": (
        lambda t: ["run", "resnet18", "--dataset", f"imagefolder:{_image_folder(t, {'cat': 2, 'dog': 2})}",
                   "--image-size", "32", "--batch-size", "8", "--workers", "0", "--output", t / "out"],
        ["has 4 training images, fewer than one batch of 8", "lower --batch-size"]),
}


def _sweep_dir(tmp_path: Path, sweep_json: str) -> Path:
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / "sweep.json").write_text(sweep_json)
    return folder


def _real_run(tmp_path: Path) -> Path:
    """A run directory as `dnn-suite run` writes it (minimal but complete)."""
    folder = tmp_path / "realrun"
    folder.mkdir()
    config = {"model": "tiny", "variant": "small", "dataset": "random", "device": "cpu", "batch_size": 4}
    (folder / "run.json").write_text(json.dumps({"schema_version": 1, "config": config, "status": "ok",
                                                 "metrics": None}))
    return folder


def _run_json(**changes) -> str:
    """The minimal run.json of :func:`_real_run` with ``changes``."""
    config = {"model": "tiny", "variant": "small", "dataset": "random", "device": "cpu", "batch_size": 4}
    return json.dumps({"schema_version": 1, "config": config, "status": "ok", "metrics": None, **changes})


def _voc(tmp_path: Path, *, empty: str | None = None, nan_box: bool = False) -> Path:
    """``VOCdevkit/VOC2007`` of three images (trainval 2, test 1); an ``empty`` image set of that
    content; the first box's xmin NaN."""
    from own_data import write_own_voc

    voc = write_own_voc(tmp_path / "VOCdevkit" / "VOC2007", {"trainval": 2, "test": 1})
    if empty is not None:
        (voc / "ImageSets" / "Main" / "empty.txt").write_text(empty)
    if nan_box:
        xml = voc / "Annotations" / "img0000.xml"
        xml.write_text(re.sub(r"<xmin>\d+", "<xmin>nan", xml.read_text(), count=1))
    return voc


def _coco(tmp_path: Path, change) -> str:
    """``coco:FILE:IMAGES`` of two images, the file's contents changed by ``change``."""
    from own_data import write_own_coco

    root = write_own_coco(tmp_path / "coco", {"val": 2})
    data = json.loads((root / "annotations" / "instances_val.json").read_text())
    change(data)
    _file(root / "annotations", "changed.json", json.dumps(data))
    return f"coco:{root / 'annotations' / 'changed.json'}:{root / 'images' / 'val'}"


def _image_folder(tmp_path: Path, classes: dict[str, int], text: bool = False) -> Path:
    """``DIR/CLASS/N.png`` images; ``text``: and a ``text.jpg`` that is text."""
    from PIL import Image

    root = tmp_path / "images"
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for index in range(count):
            Image.new("RGB", (12, 10), (40 * index, 90, 200)).save(root / name / f"{index}.png")
    if text:
        _file(root / next(iter(classes)), "text.jpg", "not a picture")
    return root


def _memory_json_without_end(tmp_path: Path) -> Path:
    breakdown = {c: 1 for c in ("parameters", "buffers", "gradients", "optimizer_state", "activations",
                                "temporaries", "other")} | {"total": 7}
    document = {"format": "dnn-suite memory breakdown", "version": 1, "run_batch_size": 2,
                "points": {"2": {"peak": breakdown, "allocator": {"rss": 100}}}}
    return _file(tmp_path, "memory.json", json.dumps(document))


@pytest.mark.parametrize("case", CORPUS)
def test_bad_input_corpus(tiny_plugin, cli, tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)  # a default ./results lands here, never in the repository
    build, fragments = CORPUS[case]
    check_one_line_error(cli(*build(tmp_path)), *fragments)


def _immutable(folder: Path) -> None:
    """Read-only even for root (who ignores permission bits): the immutable attribute."""
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", folder], capture_output=True).returncode:
        pytest.skip("chattr +i is not available on this file system")


@pytest.mark.parametrize("command", [["run", "tiny"], ["train", "tiny", "--steps", "1"]])
def test_output_in_a_read_only_folder(tiny_plugin, cli, tmp_path, command):
    locked = tmp_path / "locked"
    locked.mkdir()
    _immutable(locked)
    try:
        check_one_line_error(cli(*command, "--output", locked / "results"), "cannot create it")
        check_one_line_error(cli(*command, "--output", locked), "cannot create a run directory in it")
    finally:
        subprocess.run(["chattr", "-i", locked], check=True)
    assert not any(locked.iterdir())


def test_report_into_a_read_only_folder(tiny_plugin, cli, tmp_path):
    run = _real_run(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    _immutable(locked)
    try:
        check_one_line_error(cli("report", run, "--output", locked / "r.md"), "cannot write in")
    finally:
        subprocess.run(["chattr", "-i", locked], check=True)


@pytest.mark.slow
def test_output_on_a_full_disk(tmp_path):
    """A 64 KiB file system, filled: creating the run directory works, writing in it does not.
    Mounted in a private mount namespace (unshare), so nothing outside this test sees it."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    disk = tmp_path / "disk"
    disk.mkdir()
    tests = Path(__file__).parents[1]
    script = (f'mount -t tmpfs -o size=64k tmpfs {disk} || exit 77; '
              f'head -c 1M /dev/zero > {disk}/fill 2>/dev/null; '
              f'exec {sys.executable} -m dnn_suite run tiny --output {disk}/results')
    env = {"DNN_SUITE_PLUGINS": "tiny_model", "PYTHONPATH": str(tests / "plugins"), "PATH": "/usr/bin:/bin",
           "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env,
                               timeout=300)
    if completed.returncode == 77 or "unshare failed" in completed.stderr:
        pytest.skip("cannot mount a file system here")

    class Result:
        code, out, err = completed.returncode, completed.stdout, completed.stderr

    check_one_line_error(Result, "No space left on device")
