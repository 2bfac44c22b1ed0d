"""The machine-load meter tells this run's CPU time from other processes': a CPU-bound process
started as the run's child counts as the run's, the same process outside the run's process tree
(an orphan, as any other user's program is) counts as the others'. The hog's own CPU time, read
from the kernel, is the yardstick, so the checks hold however busy the test machine is."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil
import pytest

from dnn_suite.run.machine_load import BUSY_SHARE, LoadMeter, MachineLoad

HOG = "import time\nend = time.time() + 30\nwhile time.time() < end: pass\n"
SPIN_S = 1.5


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _measure_while_it_spins(hog: psutil.Process) -> tuple[MachineLoad, float]:
    time.sleep(0.3)  # the interpreter has started
    before, meter = _cpu_s(hog), LoadMeter()
    time.sleep(SPIN_S)
    load, spent = meter.read(), _cpu_s(hog) - before
    hog.kill()
    return load, spent


def test_a_child_of_the_run_is_the_runs_cpu_time():
    child = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        load, spent = _measure_while_it_spins(psutil.Process(child.pid))
    finally:
        child.kill()
        child.wait()
    assert spent > 0.1
    assert load.own_cpu_s >= 0.9 * spent


def test_a_process_outside_the_run_is_the_others_cpu_time():
    # the shell starts the hog in the background and exits: the hog is reparented, outside this process tree
    shell = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" >/dev/null 2>&1 & echo $!', HOG],
                           capture_output=True, text=True, check=True)
    hog = psutil.Process(int(shell.stdout))
    try:
        assert hog.pid not in {p.pid for p in psutil.Process().children(recursive=True)}
        load, spent = _measure_while_it_spins(hog)
    finally:
        if hog.is_running():
            hog.kill()
    assert spent > 0.1
    assert load.own_cpu_s < 0.5 * spent
    assert load.others_cpu_s >= 0.8 * spent
    assert load.others_share == pytest.approx(load.others_cpu_s / (load.wall_s * load.cpus), abs=1e-3)


@pytest.mark.parametrize(("share", "busy"), [(0.0, False), (BUSY_SHARE, False), (BUSY_SHARE + 0.01, True)])
def test_busy_means_others_took_more_than_a_tenth_of_the_machine(share, busy):
    load = MachineLoad(wall_s=10.0, cpus=2, own_cpu_s=5.0, others_cpu_s=share * 20, others_share=share,
                       load_average_start=0.5, load_average_end=0.7)
    assert load.busy is busy
    assert load.to_json()["busy"] is busy


def _orphan_hogs(count: int) -> list[psutil.Process]:
    """``count`` CPU-bound processes outside this process tree, as another user's programs are."""
    hogs = []
    for _ in range(count):
        shell = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" >/dev/null 2>&1 & echo $!', HOG],
                               capture_output=True, text=True, check=True)
        hogs.append(psutil.Process(int(shell.stdout)))
    return hogs


def test_a_run_measured_while_other_processes_keep_every_core_busy_says_so(tiny_plugin, cli, tmp_path):
    hogs = _orphan_hogs(psutil.cpu_count() or 1)
    try:
        time.sleep(0.3)
        result = cli("run", "tiny", "--warmup", "1", "--duration", "1.5", "--output", tmp_path)
    finally:
        for hog in hogs:
            hog.kill()
    assert result.code == 0, result.err
    document = json.loads(next(tmp_path.glob("*/run.json")).read_text())
    assert document["machine_load"]["busy"] is True and document["machine_load"]["others_share"] > BUSY_SHARE
    assert document["warnings"][0].startswith("the machine was busy while this run measured: other processes took ")
    warning_rows = [line for line in result.out.splitlines() if line.startswith("warning ")]
    assert warning_rows and "the machine was busy while this run measured" in warning_rows[0]
