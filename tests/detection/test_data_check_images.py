"""`dnn-suite data check` on voc:/coco: specs, and `--images`: every image decoded in worker processes."""

from __future__ import annotations

import shutil

from own_data import write_own_voc
from dnn_suite.datasets.images import unreadable_images


def _break_images(voc):
    """Truncate one JPEG to half its bytes and replace one PNG by bytes that are no image."""
    jpeg = voc / "JPEGImages" / "img0000.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[: jpeg.stat().st_size // 2])
    (voc / "JPEGImages" / "img0002.png").write_bytes(b"not an image")
    return jpeg, voc / "JPEGImages" / "img0002.png"


def test_every_unreadable_or_truncated_image_is_listed(tmp_path):
    voc = write_own_voc(tmp_path / "voc", {"trainval": 6})
    truncated, garbage = _break_images(voc)
    paths = sorted((voc / "JPEGImages").iterdir()) + [voc / "JPEGImages" / "gone.jpg"]
    problems = dict(unreadable_images(paths, workers=2))
    assert set(problems) == {truncated, garbage, voc / "JPEGImages" / "gone.jpg"}
    assert "truncated" in problems[truncated] and problems[voc / "JPEGImages" / "gone.jpg"] == "no such file"


def test_data_check_reads_a_voc_spec_and_decodes_its_images(cli, own_voc, tmp_path):
    result = cli("data", "check", f"voc:{own_voc}", "--images", "--workers", "2")
    assert result.code == 0, result.err
    assert f"voc:{own_voc}:trainval 8 images, voc:{own_voc}:test 4 images; 3 classes: blue, green, red" in result.out
    assert "12 images decoded: 0 unreadable or truncated" in result.out

    broken = shutil.copytree(own_voc, tmp_path / "broken")
    truncated, garbage = _break_images(broken)
    result = cli("data", "check", f"voc:{broken}")
    assert result.code == 0, result.err  # the annotations alone are fine
    result = cli("data", "check", f"voc:{broken}", "--images", "--workers", "2")
    assert result.code == 2
    assert f"unreadable image {truncated}: image file is truncated" in result.out
    assert f"unreadable image {garbage}: cannot identify image file" in result.out
    assert "12 images decoded: 2 unreadable or truncated" in result.out
    assert result.err.strip().endswith("replace or remove them before training")


def test_data_check_coco_spec_and_bad_specs(cli, own_coco, tmp_path):
    result = cli("data", "check", f"coco:{own_coco / 'annotations' / 'instances_train.json'}")
    assert result.code == 0, result.err
    assert "instances_val.json 4 images; 3 classes: person, dog, car" in result.out
    result = cli("data", "check", f"voc:{tmp_path / 'nowhere'}")
    assert result.code == 2 and f"expected the directory {tmp_path / 'nowhere'}" in result.err
    result = cli("data", "check", "voc2007")
    assert result.code == 2 and "--root DIR is needed" in result.err


def test_data_check_images_of_a_catalogue_dataset(cli, tmp_path):
    voc = write_own_voc(tmp_path / "VOCdevkit" / "VOC2007", {"trainval": 3, "test": 3}, classes=("dog", "cat", "bus"))
    truncated, _ = _break_images(voc)
    result = cli("data", "check", "voc2007", "--root", tmp_path, "--images", "--workers", "1")
    assert result.code == 2
    assert "VOC2007 trainval 3 images, VOC2007 test 3 images" in result.out
    assert f"unreadable image {truncated}: image file is truncated" in result.out
