"""SIGINT and SIGTERM end a run the same clean way; a SIGKILLed run shows as crashed.

Real signals to real child processes (`python -m dnn_suite run tiny ...`): each child is slowed
(``data_delay_s``) so that it is measuring when the signal arrives; the signal goes to the
dnn-suite process alone, as ``kill``, ``timeout`` and Kubernetes send it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dnn_suite import signals
from dnn_suite.run import runner, runstate, train_eval

FAKE_TOOLS = Path(__file__).parents[1] / "profilers" / "fakes" / "bin"  # nvprof & co. in their formats
SLOW_RUN = ("--warmup", "0", "--iterations", "100000", "--workers", "0", "--set", "model_options.data_delay_s=0.02",
            "--set", "model_options.lr=0.001")  # thousands of steps without diverging


def _start(*args, output: Path, group: bool = False) -> subprocess.Popen:
    """``dnn-suite ARGS``; with ``group``, in a process group of its own (its pid), as a scheduler
    or ``timeout`` starts it."""
    command = [sys.executable, "-m", "dnn_suite", *map(str, args), "--output", str(output)]
    path = os.pathsep.join([str(FAKE_TOOLS), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PATH": path, "OMP_NUM_THREADS": "1"}, start_new_session=group)


def _wait_for(pattern: str, folder: Path, child: subprocess.Popen, timeout: float = 120) -> Path:
    """The first file matching ``pattern`` under ``folder``, once the child wrote it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
        assert child.poll() is None, child.communicate()
        time.sleep(0.1)
    raise AssertionError(f"no {pattern} under {folder} after {timeout} s")


def _signal_while_measuring(child: subprocess.Popen, run_json: Path, signum: int) -> tuple[str, str]:
    time.sleep(1.5)  # a few dozen 20 ms iterations measured
    child.send_signal(signum)
    try:
        return child.communicate(timeout=120)
    finally:
        child.kill()


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_records_what_was_measured_and_exits_with_its_code(tiny_plugin, tmp_path, signum, code):
    child = _start("run", "tiny", *SLOW_RUN, "--repeat", "3", "--json", output=tmp_path)
    run_json = _wait_for("*/run.json", tmp_path, child)
    out, err = _signal_while_measuring(child, run_json, signum)
    assert child.returncode == code, err
    document = json.loads(out)
    assert len(document["metrics"]["windows"]) == 1  # the interrupted window is the last: no window after it
    assert document == json.loads(run_json.read_text())
    assert document["status"] == "interrupted" and signal.Signals(signum).name in document["error"]
    assert document["metrics"]["iterations"] >= 5 and document["metrics"]["windows"][0]["interrupted"] is True
    assert document["process"]["pid"] == child.pid
    assert (run_json.parent / "iterations.csv").read_text().count("\n") == document["metrics"]["iterations"] + 1


def _signal_the_group(child: subprocess.Popen, signum: int, code: int) -> str:
    """Send ``signum`` to the child's whole process group, as a scheduler does; the child ends with
    ``code``, says no internal or worker error, and nothing of it is left in its group. Its stdout."""
    os.killpg(child.pid, signum)
    try:
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == code, err
    assert "internal error" not in err and "DataLoader worker" not in err
    deadline = time.monotonic() + 5  # processes of the group may still be exiting (reaped by init)
    while time.monotonic() < deadline:
        try:
            os.killpg(child.pid, 0)
        except ProcessLookupError:  # nothing of the run is left in its group
            return out
        time.sleep(0.1)
    left = subprocess.run(["ps", "-o", "pid,stat,args", "-g", str(child.pid)], capture_output=True, text=True).stdout
    raise AssertionError(f"processes of the run outlived it:\n{left}")


GROUP_RUNS = {  # model -> (arguments, seconds from run.json to measuring)
    # a plugin's loader with no signal handling of its own
    "tiny": (("tiny", *SLOW_RUN, "--set", "model_options.loader_workers=2"), 3),
    # EfficientDet's detection loader: persistent workers, which the process must end at exit
    "efficientdet": (("efficientdet", "--image-size", "64", "--batch-size", "2", "--workers", "2", "--warmup", "1",
                      "--iterations", "100000"), 15),
}


@pytest.mark.slow
@pytest.mark.parametrize("model, signum, code", [("tiny", signal.SIGTERM, 143), ("tiny", signal.SIGINT, 130),
                                                 ("efficientdet", signal.SIGTERM, 143)])
def test_a_signal_to_the_process_group_with_loader_workers_ends_the_run_cleanly(tiny_plugin, tmp_path, model, signum,
                                                                                code):
    """``timeout``, ``kill -- -PGID``, SLURM and Kubernetes signal the whole group: the DataLoader
    workers get the signal too. The run still records what it measured and exits with the
    signal's code, and no worker outlives it."""
    arguments, measuring_after_s = GROUP_RUNS[model]
    child = _start("run", *arguments, "--json", output=tmp_path, group=True)
    run_json = _wait_for("*/run.json", tmp_path, child)
    time.sleep(measuring_after_s)  # the workers are up and iterations measured
    document = json.loads(_signal_the_group(child, signum, code))
    assert document["status"] == "interrupted" and signal.Signals(signum).name in document["error"]
    assert document["metrics"]["iterations"] >= 1
    assert document == json.loads(run_json.read_text())


@pytest.mark.slow
def test_an_evaluation_signalled_with_its_loader_workers_ends_interrupted(tmp_path):
    """`eval` as a scheduler stops it: SIGTERM to the whole group while EfficientDet's evaluation
    loader (2 persistent workers) serves batches: eval.json says interrupted, exit 143, no worker left."""
    child = _start("eval", "efficientdet", "--image-size", "64", "--batch-size", "2", "--workers", "2",
                   "--set", "model_options.synthetic_val=100000", output=tmp_path, group=True)
    record = _wait_for("*/eval.json", tmp_path, child)
    time.sleep(15)  # the model is built and the workers serve batches
    _signal_the_group(child, signal.SIGTERM, 143)
    document = json.loads(record.read_text())
    assert (document["status"], document["error"]) == ("interrupted", "interrupted by SIGTERM")


@pytest.mark.slow
def test_a_sweep_signalled_with_its_loader_workers_records_the_point_and_stops(tiny_plugin, tmp_path):
    """A sweep point runs in a process of its own, with DataLoader workers: the whole group gets the
    signal; the point and the sweep end interrupted, the points after it stay pending."""
    child = _start("run", "tiny", "--batch-size", "2,4", *SLOW_RUN, "--set", "model_options.loader_workers=2",
                   output=tmp_path, group=True)
    _wait_for("*/*/run.json", tmp_path, child)
    time.sleep(3)
    _signal_the_group(child, signal.SIGTERM, 143)
    (sweep_json,) = tmp_path.glob("*/sweep.json")
    sweep = json.loads(sweep_json.read_text())
    assert sweep["status"] == "interrupted"
    assert [(p["batch_size"], p["status"]) for p in sweep["points"]] == [(2, "interrupted"), (4, "pending")]


@pytest.mark.slow
def test_a_launched_run_forwards_sigterm_to_the_program_and_still_records(tiny_plugin, tmp_path):
    """The parent waits for the (fake) profiler tool; SIGTERM goes on to the benchmark under it, which
    records what it measured; the tool still writes its output and the parent analyzes it."""
    child = _start("run", "tiny", "--profiler", "nvprof", *SLOW_RUN, "--json", output=tmp_path)
    run_json = _wait_for("*/run.json", tmp_path, child)
    deadline = time.monotonic() + 120  # until the program under the tool has recorded itself
    while json.loads(run_json.read_text())["process"]["pid"] == child.pid and time.monotonic() < deadline:
        time.sleep(0.1)
    out, err = _signal_while_measuring(child, run_json, signal.SIGTERM)
    assert child.returncode == 143, err
    document = json.loads(out)
    assert document["status"] == "interrupted" and "SIGTERM" in document["error"]
    assert document["metrics"]["iterations"] >= 5
    assert document["profilers"]["nvprof"]["error"] is None and document["profilers"]["nvprof"]["metrics"]
    assert document["process"]["pid"] == child.pid  # the parent's record, as it wrote last


@pytest.mark.slow
def test_a_sweep_records_the_point_and_stops(tiny_plugin, tmp_path):
    child = _start("run", "tiny", "--batch-size", "2,4", *SLOW_RUN, output=tmp_path)
    _wait_for("*/*/run.json", tmp_path, child)  # the first point is running
    _, err = _signal_while_measuring(child, tmp_path, signal.SIGTERM)
    assert child.returncode == 143, err
    (sweep_json,) = tmp_path.glob("*/sweep.json")
    sweep = json.loads(sweep_json.read_text())
    assert sweep["status"] == "interrupted"
    assert [(p["batch_size"], p["status"]) for p in sweep["points"]] == [(2, "interrupted"), (4, "pending")]
    assert sweep["points"][0]["exit_code"] == 143 and len(sweep["runs"]) == 1
    point = json.loads((sweep_json.parent / sweep["runs"][0] / "run.json").read_text())
    assert point["status"] == "interrupted" and point["metrics"]["iterations"] >= 5


@pytest.mark.slow
def test_a_sigkilled_run_is_shown_as_crashed(tiny_plugin, cli, tmp_path):
    child = _start("run", "tiny", *SLOW_RUN, output=tmp_path / "runs")
    run_json = _wait_for("*/run.json", tmp_path / "runs", child)
    child.kill()
    child.communicate(timeout=60)
    document = json.loads(run_json.read_text())
    assert document["status"] == "running"  # nothing could be written ...
    assert (document["process"]["pid"], document["process"]["host"]) == (child.pid, os.uname().nodename)
    compared = cli("compare", run_json.parent, run_json.parent, "--json")  # ... but readers see that it is gone
    assert json.loads(compared.out)["runs"][0]["status"] == "crashed", compared.err
    report = tmp_path / "report.md"
    assert cli("report", run_json.parent, "--output", report).code == 0
    assert f"status crashed: process {child.pid} on {os.uname().nodename} ended without recording" in report.read_text()


def test_a_running_run_is_judged_by_its_process():
    me = runstate.this_process()
    assert runstate.status({"status": "running", "process": me}) == "running"
    reused = {**me, "started": me["started"] - 60}  # the same pid, but another process
    assert runstate.status({"status": "running", "process": reused}) == "crashed"
    elsewhere = {**me, "host": "another-host.invalid"}
    assert runstate.status({"status": "running", "process": elsewhere}) == "running"
    assert "unverified" in runstate.describe({"status": "running", "process": elsewhere})
    assert runstate.status({"status": "ok", "process": reused}) == "ok"  # a finished run is what it says


@pytest.fixture
def own_handlers():
    saved = {signum: signal.getsignal(signum) for signum in signals.HANDLED}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_sigterm_is_ctrl_c_and_one_event_delivered_twice_counts_once(own_handlers):
    signals.install()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler runs here
    os.kill(os.getpid(), signal.SIGINT)  # the same event forwarded by a parent: no second interrupt
    time.sleep(0.1)
    assert (signals.received(), signals.exit_code(), signals.reason()) == (signal.SIGTERM, 143,
                                                                           "interrupted by SIGTERM")


def test_deferred_asks_first_and_aborts_on_a_second_request(own_handlers):
    signals.install()
    asked = []
    with signals.Deferred(asked.append) as requests:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # a duplicate (process group and parent)
        time.sleep(0.1)
        assert (asked, requests.requested, requests.aborted) == ([signal.SIGTERM], True, False)
        time.sleep(signals.REPEAT_WINDOW_S)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the user insists
            time.sleep(1)
        assert requests.aborted
    assert signal.getsignal(signal.SIGTERM) == signals._interrupt  # restored on leaving


def test_held_notes_a_signal_and_lets_the_write_finish(own_handlers):
    signals.install()
    try:
        with signals.held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)  # the handler runs here, and raises nothing
    except KeyboardInterrupt:
        pytest.fail("a signal interrupted what held() holds")
    assert signals.received() == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == signals._interrupt  # restored on leaving


@pytest.fixture
def signal_during_final_write(monkeypatch):
    """Fault injection: SIGINT reaches the process just as a module writes the run's final record
    (a document no longer ``running``); the real write follows, unless the signal stopped it."""
    def inject(module) -> None:
        write = module.write_json_atomic

        def signalled_write(path, data):
            if isinstance(data, dict) and data.get("status") not in (None, "running"):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.1)  # the handler runs here
            write(path, data)

        monkeypatch.setattr(module, "write_json_atomic", signalled_write)
    return inject


@pytest.mark.parametrize("command, module, options, status, code", [
    ("train", train_eval, ["--steps", "2"], "ok", 0),
    ("train", train_eval, ["--steps", "2", "--set", "model_options.interrupt_at=1"], "interrupted", 130),
    ("run", runner, ["--warmup", "0", "--iterations", "2"], "ok", 0),
])
def test_a_signal_during_the_final_write_still_completes_the_record(
        tiny_plugin, cli, own_handlers, signal_during_final_write, tmp_path, command, module, options, status, code):
    signal_during_final_write(module)
    result = cli(command, "tiny", *options, "--workers", "0", "--output", tmp_path)
    assert result.code == code, result.err
    (record,) = tmp_path.glob(f"*/{'run' if command == 'run' else command}.json")
    assert json.loads(record.read_text())["status"] == status


@pytest.mark.slow
def test_sigterm_under_torchrun_stops_every_rank_after_the_same_iteration(tiny_plugin, tmp_path):
    """dnn-suite passes SIGTERM to torchrun, torchrun to both ranks; they agree on the iteration to
    stop after, rank 0 records both, and the exit code is SIGTERM's (torchrun's own is 1)."""
    child = _start("run", "tiny", "--nproc-per-node", "2", *SLOW_RUN, output=tmp_path)
    run_json = _wait_for("*/run.json", tmp_path, child)
    _, err = _signal_while_measuring(child, run_json, signal.SIGTERM)
    assert child.returncode == 143, err
    document = json.loads(run_json.read_text())
    assert document["status"] == "interrupted" and "SIGTERM" in document["error"]
    ranks = document["metrics"]["distributed"]["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["samples"] == ranks[1]["samples"] > 0


@pytest.mark.slow
def test_sigterm_to_the_group_of_a_torchrun_run_stops_every_rank(tiny_plugin, tmp_path):
    """Under a scheduler the ranks get SIGTERM directly and again from torchrun: each counts it once,
    they agree on the iteration to stop after, rank 0 records both, exit 143, nothing left."""
    child = _start("run", "tiny", "--nproc-per-node", "2", *SLOW_RUN, output=tmp_path, group=True)
    run_json = _wait_for("*/run.json", tmp_path, child)
    time.sleep(6)  # both ranks are up and measuring
    _signal_the_group(child, signal.SIGTERM, 143)
    document = json.loads(run_json.read_text())
    assert document["status"] == "interrupted" and "SIGTERM" in document["error"]
    ranks = document["metrics"]["distributed"]["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["samples"] == ranks[1]["samples"] > 0


@pytest.mark.slow
def test_sigterm_to_the_group_of_a_launched_run_still_records(tiny_plugin, tmp_path):
    """The (fake) profiler tool, the benchmark under it and the parent all get SIGTERM: the benchmark
    records what it measured, the parent ends the run interrupted with 143."""
    child = _start("run", "tiny", "--profiler", "nvprof", *SLOW_RUN, "--json", output=tmp_path, group=True)
    run_json = _wait_for("*/run.json", tmp_path, child)
    deadline = time.monotonic() + 120  # until the program under the tool has recorded itself
    while json.loads(run_json.read_text())["process"]["pid"] == child.pid and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    document = json.loads(_signal_the_group(child, signal.SIGTERM, 143))
    assert document["status"] == "interrupted" and "SIGTERM" in document["error"]
    assert document["metrics"]["iterations"] >= 5
