"""Progress bars: drawn on a terminal only, silenced by --quiet, used by the benchmark loop."""

from __future__ import annotations

import io
import os
import pty
import sys
import threading
import types

import pytest

from dnn_suite import progress
from dnn_suite.cli import main
from dnn_suite.progress import ProgressBar, track


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def make_terminal(monkeypatch):
    """Returns a terminal to draw on and makes stdout a terminal too (call it in the test: pytest's
    capture replaces stdout after fixtures are set up); every update redraws."""
    monkeypatch.setattr(progress, "REDRAW_S", 0.0)
    monkeypatch.setenv("COLUMNS", "200")

    def make() -> Terminal:
        monkeypatch.setattr(sys, "stdout", Terminal())
        return Terminal()

    yield make
    progress.set_quiet(False)


def test_bar_draws_counts_and_info_then_ends_the_line(make_terminal):
    terminal = make_terminal()
    with ProgressBar(total=4, label="epoch 1", unit="step", stream=terminal) as bar:
        for step in range(4):
            bar.update(loss=0.5 / (step + 1))
    text = terminal.getvalue()
    assert text.startswith("\repoch 1  [")
    assert "1/4 step" in text and "4/4 step" in text
    final = text.rsplit("\r", 1)[1]
    assert "[" + "#" * progress.BAR_WIDTH + "]" in final and "loss=0.125" in final
    assert text.endswith("\x1b[K\n")


def test_unknown_total_shows_count_and_rate(make_terminal):
    terminal = make_terminal()
    bar = ProgressBar(label="window 1/1", stream=terminal)
    bar.update(3)
    bar.close()
    final = terminal.getvalue().rsplit("\r", 1)[1]
    assert final.startswith("window 1/1  3 it  ") and " it/s  0:00" in final


def test_the_line_is_cut_to_the_terminal_width(make_terminal, monkeypatch):
    terminal = make_terminal()
    monkeypatch.setenv("COLUMNS", "30")
    with ProgressBar(total=10, label="a long label for a narrow terminal", stream=terminal) as bar:
        bar.update()
    drawn = "\r" + "a long label for a narrow terminal"[:29] + "\x1b[K"
    assert terminal.getvalue() == drawn + drawn + "\n"  # the update, then the final state


def test_nothing_is_drawn_without_a_terminal_quiet_or_updates(make_terminal):
    terminal = make_terminal()
    plain = io.StringIO()
    with ProgressBar(total=2, stream=plain) as bar:
        bar.update(2)
    assert plain.getvalue() == ""

    progress.set_quiet(True)
    with ProgressBar(total=2, stream=terminal) as bar:
        bar.update(2)
    progress.set_quiet(False)
    with ProgressBar(total=0, stream=terminal):
        pass
    assert terminal.getvalue() == ""


def test_track_yields_every_item_and_counts_them(monkeypatch, make_terminal):
    terminal = make_terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert list(track(["a", "b", "c"], label="files")) == ["a", "b", "c"]
    final = terminal.getvalue().rsplit("\r", 1)[1]
    assert final.startswith("files  [") and "3/3 it" in final


def test_the_benchmark_loop_shows_warmup_and_windows_unless_quiet(tiny_plugin, cli, tmp_path, monkeypatch):
    args = ("run", "tiny", "--warmup", "2", "--iterations", "5", "--repeat", "2", "--output", tmp_path)
    assert "window 1/2" not in cli(*args).err  # captured output is not a terminal

    monkeypatch.setattr(progress, "_is_terminal", lambda stream: True)
    shown = cli(*args)
    assert shown.code == 0
    assert "warmup  [" in shown.err and "2/2 it" in shown.err
    assert "window 1/2  [" in shown.err and "window 2/2  [" in shown.err and "5/5 it" in shown.err

    quiet = cli("--quiet", *args)
    assert quiet.code == 0 and "window 1/2" not in quiet.err and "throughput" in quiet.out


def test_a_real_terminal_gets_the_bars(tiny_plugin, tmp_path, monkeypatch):
    """`dnn-suite run` writing to a pseudo-terminal: its bars reach it, redrawn in place."""
    controller, device = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # keeps the terminal's buffer from filling up and blocking the run
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal side is closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    monkeypatch.setenv("COLUMNS", "150")
    with open(device, "w", buffering=1, encoding="utf-8") as terminal, pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdout", terminal)
        patch.setattr(sys, "stderr", terminal)
        code = main(["run", "tiny", "--iterations", "4", "--output", str(tmp_path)])
    reader.join(timeout=10)
    os.close(controller)
    text = b"".join(chunks).decode()
    assert code == 0
    assert "\rwarmup  [" in text and "\rwindow 1/1  [" in text and "4/4 it" in text and "throughput" in text


def test_a_notebook_gets_tqdm_bars(monkeypatch, capsys):
    """In a Jupyter kernel (IPython with a kernel; neither stream a terminal) the bar is tqdm.auto's,
    which without ipywidgets writes its text bar to stderr; --quiet still turns it off."""
    kernel_shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: kernel_shell))
    assert progress.in_notebook()
    with progress.progress(total=3, label="eval", unit="batch") as bar:
        for _ in range(3):
            bar.update(loss=0.25)
    err = capsys.readouterr().err
    assert "eval: 100%" in err and "3/3" in err and "loss=0.25" in err

    progress.set_quiet(True)
    try:
        with progress.progress(total=3, label="eval") as bar:
            bar.update(3)
    finally:
        progress.set_quiet(False)
    assert capsys.readouterr().err == ""


def test_outside_a_kernel_ipython_is_no_notebook(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not progress.in_notebook()
