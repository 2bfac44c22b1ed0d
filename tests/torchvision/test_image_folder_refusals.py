"""``imagefolder:DIR`` data a classifier cannot train on is refused in one line, exit 2: one class,
a file named like an image that is not one, fewer images than one batch."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tv_tiny import TINY

RUN = ["run", "resnet18", *TINY, "--iterations", "1"]


def _folder(root: Path, classes: dict[str, int]) -> Path:
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for index in range(count):
            Image.new("RGB", (12, 10), (40 * index, 90, 200)).save(root / name / f"{index}.png")
    return root


def _error_line(result) -> str:
    assert result.code == 2, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert lines[-1].startswith("dnn-suite: error: ") and "Traceback" not in result.err
    assert [line for line in lines if "error" in line.lower()] == lines[-1:]
    return lines[-1].removeprefix("dnn-suite: error: ")


def test_one_class_is_refused_by_run_and_by_data_check(cli, tmp_path):
    root = _folder(tmp_path / "data", {"cat": 8})
    expected = (f"dataset imagefolder:{root}: {root} has one class folder (cat), and training on one class "
                "measures nothing; expected a folder per class, two or more (DIR/CLASS/IMAGE)")
    assert _error_line(cli(*RUN, "--dataset", f"imagefolder:{root}", "--output", tmp_path / "out")) == expected
    assert not (tmp_path / "out").exists()
    assert _error_line(cli("data", "check", f"imagefolder:{root}")) == expected


def test_a_jpg_that_is_text_is_named_without_a_python_repr(cli, tmp_path):
    root = _folder(tmp_path / "data", {"cat": 4, "dog": 4})
    text = root / "cat" / "0.jpg"
    text.write_text("not a picture")
    line = _error_line(cli(*RUN, "--dataset", f"imagefolder:{root}", "--workers", "1", "--batch-size", "8",
                           "--output", tmp_path / "out"))  # the first batch is every image; read in a worker
    assert line == f"cannot read image {text}: cannot identify image file; expected a JPEG, PNG or other image " \
                   "format PIL reads"


def test_a_dangling_link_says_where_it_points(cli, tmp_path):
    root = _folder(tmp_path / "data", {"cat": 4, "dog": 4})
    link = root / "dog" / "9.png"
    link.symlink_to(tmp_path / "moved" / "9.png")
    line = _error_line(cli(*RUN, "--dataset", f"imagefolder:{root}", "--batch-size", "9", "--output", tmp_path / "o"))
    assert line == f"cannot read image {link}: a link to {tmp_path / 'moved' / '9.png'}, which does not exist"


def test_fewer_images_than_one_batch_says_to_lower_the_batch_size(cli, tmp_path):
    root = _folder(tmp_path / "data", {"cat": 2, "dog": 1})
    line = _error_line(cli(*RUN, "--dataset", f"imagefolder:{root}", "--batch-size", "4", "--output", tmp_path / "o"))
    assert line == f"dataset imagefolder:{root} has 3 training images, fewer than one batch of 4; lower --batch-size"
