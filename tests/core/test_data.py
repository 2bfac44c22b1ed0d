"""`dnn-suite data download|check` against a loopback HTTP server serving small generated
VOC and COCO archives: download, resume, checksums, --mirror, unsafe archives, checks."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from dnn_suite.plugins import discover
from dnn_suite_detection.data.download import DATASETS

HOST = "http://datasets.invalid/base"  # what the catalogue says; tests reach the server through --mirror


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _voc_xml(name: str) -> bytes:
    return (f"<annotation><filename>{name}.jpg</filename><size><width>32</width><height>24</height></size>"
            "<object><name>dog</name><difficult>0</difficult>"
            "<bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>18</ymax></bndbox></object>"
            "</annotation>").encode()


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


def _voc_tar(image_set: str, names: list[str]) -> bytes:
    root = "VOCdevkit/VOC2007/"
    members = {f"{root}ImageSets/Main/{image_set}.txt": "\n".join(names).encode()}
    for name in names:
        members[f"{root}Annotations/{name}.xml"] = _voc_xml(name)
        members[f"{root}JPEGImages/{name}.jpg"] = _jpeg()
    return _tar(members)


COCO_JSON = json.dumps({
    "images": [{"id": 1, "file_name": "000000000001.jpg", "width": 32, "height": 24}],
    "annotations": [{"id": 7, "image_id": 1, "category_id": 18, "bbox": [2, 3, 10, 8], "area": 80, "iscrowd": 0}],
    "categories": [{"id": 18, "name": "dog"}],
}).encode()
ARCHIVES = {
    "/base/voc/VOCtrainval.tar": _voc_tar("trainval", ["000001", "000002"]),
    "/base/voc/VOCtest.tar": _voc_tar("test", ["000003"]),
    "/base/coco/annotations.zip": _zip({"annotations/instances_val2017.json": COCO_JSON}),
    "/base/coco/val2017.zip": _zip({"val2017/000000000001.jpg": _jpeg()}),
}


class Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` with Range support; a path in ``cut`` is cut off halfway, once."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = dict(ARCHIVES)
        self.cut: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        ranged = self.headers.get("Range")
        self.server.requests.append((self.path, ranged))
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = int(ranged.removeprefix("bytes=").rstrip("-")) if ranged else 0
        self.send_response(206 if ranged else 200)
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if self.path in self.server.cut:
            self.server.cut.discard(self.path)
            self.wfile.write(data[start:len(data) // 2])
            self.close_connection = True
            return
        self.wfile.write(data[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _file(path: str, *, extract_to: str = "", md5: str | None = None) -> dict:
    data = ARCHIVES[path]
    return {"url": HOST.removesuffix("/base") + path, "size": len(data),
            "md5": md5 or hashlib.md5(data).hexdigest(), "extract_to": extract_to}


@pytest.fixture
def catalogue(tmp_path, monkeypatch, tiny_plugin):
    """The test datasets tinyvoc and tinycoco, declared by the tiny_datasets plugin."""
    entries = {
        "tinyvoc": {"kind": "voc", "files": [_file("/base/voc/VOCtrainval.tar"), _file("/base/voc/VOCtest.tar")]},
        "tinycoco": {"kind": "coco", "files": [_file("/base/coco/annotations.zip"),
                                               _file("/base/coco/val2017.zip", extract_to="images")]},
    }

    def write(**changes: dict) -> None:
        path.write_text(json.dumps({**entries, **changes}))

    path = tmp_path / "catalogue.json"
    write()
    monkeypatch.setenv("TINY_DATASETS", str(path))
    monkeypatch.setenv("DNN_SUITE_PLUGINS", "tiny_datasets")
    return write


def test_download_extracts_the_standard_layout_and_checks_it(catalogue, server, cli, tmp_path):
    root = tmp_path / "dataset"
    result = cli("data", "download", "tinyvoc", "tinycoco", "--root", root, "--mirror", server.url + "/")
    assert result.code == 0, result.err
    assert (root / "VOCdevkit/VOC2007/JPEGImages/000003.jpg").is_file()
    assert (root / "VOCdevkit/VOC2007/ImageSets/Main/trainval.txt").read_text().split() == ["000001", "000002"]
    assert (root / "annotations/instances_val2017.json").is_file() and (root / "images/val2017").is_dir()
    assert "tinyvoc        ok         VOC2007 trainval 2 images, VOC2007 test 1 images" in result.out
    assert "tinycoco       ok         val2017 1 images" in result.out
    assert [path for path, _ in server.requests] == list(ARCHIVES)  # the mirror keeps each URL's path
    downloads = sorted(p.name for p in (root / "downloads").iterdir())
    assert downloads == sorted(f"{Path(p).name}.extracted" for p in ARCHIVES)  # archives deleted
    again = cli("data", "download", "tinyvoc", "--root", root, "--mirror", server.url)
    assert again.code == 0 and len(server.requests) == 4 and "already downloaded and extracted" in again.err
    check = cli("data", "check", "--root", root)  # every dataset present
    assert check.code == 0 and "tinyvoc" in check.out and "tinycoco" in check.out


def test_an_interrupted_download_resumes_with_a_range_request(catalogue, server, cli, tmp_path):
    root = tmp_path / "dataset"
    path = "/base/voc/VOCtrainval.tar"
    half = len(ARCHIVES[path]) // 2
    # a .part left by an earlier run that was stopped after a quarter
    (root / "downloads").mkdir(parents=True)
    (root / "downloads/VOCtrainval.tar.part").write_bytes(ARCHIVES[path][:half // 2])
    server.cut.add(path)  # ... and this run's first response breaks off halfway
    result = cli("data", "download", "tinyvoc", "--root", root, "--mirror", server.url, "--keep-archives")
    assert result.code == 0, result.err
    assert server.requests[:2] == [(path, f"bytes={half // 2}-"), (path, f"bytes={half}-")]
    assert (root / "downloads/VOCtrainval.tar").read_bytes() == ARCHIVES[path]
    assert (root / "VOCdevkit/VOC2007/Annotations/000002.xml").is_file()


def test_a_checksum_mismatch_is_one_line_exit_2_and_removes_the_download(catalogue, server, cli, tmp_path):
    catalogue(tinyvoc={"kind": "voc", "files": [_file("/base/voc/VOCtrainval.tar", md5="0" * 32)]})
    root = tmp_path / "dataset"
    result = cli("data", "download", "tinyvoc", "--root", root, "--mirror", server.url)
    assert result.code == 2
    error = result.err.strip().splitlines()[-1]
    assert error.startswith("dnn-suite: error: http://127.0.0.1:") and "md5 mismatch (expected 00000000" in error
    assert list((root / "downloads").iterdir()) == [] and not (root / "VOCdevkit").exists()


@pytest.mark.parametrize("archive, suffix", [
    (_tar({"VOCdevkit/ok.txt": b"ok", "../escaped.txt": b"evil"}), ".tar"),
    (_tar({"VOCdevkit/ok.txt": b"ok"}, links={"VOCdevkit/passwd": "/etc/passwd"}), ".tar"),
    (_tar({"VOCdevkit/ok.txt": b"ok"}, links={"VOCdevkit/up": "../../escaped.txt"}), ".tar"),
    (_zip({"annotations/ok.txt": b"ok", "../../escaped.txt": b"evil"}), ".zip"),
    (_zip({"/abs/escaped.txt": b"evil"}), ".zip"),
])
def test_an_archive_reaching_outside_the_root_is_refused(catalogue, server, cli, tmp_path, archive, suffix):
    server.files["/base/evil" + suffix] = archive
    ARCHIVES["/base/evil" + suffix] = archive
    try:
        catalogue(tinyvoc={"kind": "voc", "files": [_file("/base/evil" + suffix)]})
        root = tmp_path / "deep" / "dataset"
        result = cli("data", "download", "tinyvoc", "--root", root, "--mirror", server.url)
    finally:
        del ARCHIVES["/base/evil" + suffix]
    assert result.code == 2 and "refusing the archive" in result.err, result.err
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(root) and p.name != "catalogue.json"]
    assert [p.name for p in outside if p.is_file()] == []
    assert not list(root.rglob("passwd")) and not list(root.rglob("up"))
    assert not (root / "downloads/evil.tar.extracted").exists()


def test_check_says_what_is_missing_and_what_is_broken(catalogue, server, cli, tmp_path):
    root = tmp_path / "dataset"
    assert cli("data", "download", "tinyvoc", "--root", root, "--mirror", server.url).code == 0
    (root / "VOCdevkit/VOC2007/ImageSets/Main/test.txt").unlink()
    missing = cli("data", "check", "tinyvoc", "--root", root)
    assert missing.code == 2
    assert "tinyvoc        INCOMPLETE missing VOCdevkit/VOC2007/ImageSets/Main/test.txt" in missing.out
    assert "`dnn-suite data download tinyvoc --root" in missing.err
    (root / "VOCdevkit/VOC2007/ImageSets/Main/test.txt").write_text("000003\n")
    (root / "VOCdevkit/VOC2007/JPEGImages/000003.jpg").unlink()
    (root / "VOCdevkit/VOC2007/Annotations/000001.xml").write_text("<annotation><size>")
    broken = cli("data", "check", "tinyvoc", "--root", root)
    assert broken.code == 2 and "000001.xml: malformed XML" in broken.out
    (root / "VOCdevkit/VOC2007/Annotations/000001.xml").write_bytes(_voc_xml("000001"))
    images = cli("data", "check", "tinyvoc", "--root", root)
    assert images.code == 2 and "VOC2007 test: 1 of 1 images are missing, e.g. " in images.out


def test_unknown_dataset_and_missing_root(catalogue, cli, tmp_path):
    unknown = cli("data", "download", "tinyvok", "--root", tmp_path)
    assert unknown.code == 2 and "unknown dataset 'tinyvok'; did you mean 'tinyvoc'" in unknown.err
    nothing = cli("data", "check", "--root", tmp_path)
    assert nothing.code == 2 and "no known dataset found under" in nothing.err
    assert cli("data", "check", "--root", tmp_path / "nope").code == 2


def test_a_missing_file_on_the_mirror_is_a_usage_error(catalogue, server, cli, tmp_path):
    del server.files["/base/voc/VOCtest.tar"]
    result = cli("data", "download", "tinyvoc", "--root", tmp_path, "--mirror", server.url)
    assert result.code == 2 and "VOCtest.tar: HTTP 404" in result.err and "--mirror" in result.err


def test_the_efficientdet_catalogue_has_the_official_archives():
    registry = discover()
    assert {"voc2007", "voc2012", "coco2017"} <= set(registry.datasets)
    files = {file.name: file for spec in DATASETS for file in spec.files}
    assert files["VOCtrainval_06-Nov-2007.tar"].md5 == "c52e279531787c972589f7e41ab4ae64"
    assert files["VOCtest_06-Nov-2007.tar"].md5 == "b6e924de25625d8de591ea690078ad9f"
    assert files["VOCtrainval_11-May-2012.tar"].md5 == "6cd6e144f989b92b3379bac3b3de84fd"
    assert files["train2017.zip"].extract_to == "images" and files["train2017.zip"].size == 19_336_861_798
    assert registry.dataset("coco2017").layout == (
        "annotations/instances_train2017.json", "images/train2017",
        "annotations/instances_val2017.json", "images/val2017")
    assert all(os.path.basename(file.url) == name for name, file in files.items())
