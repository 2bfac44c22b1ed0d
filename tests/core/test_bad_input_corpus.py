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
