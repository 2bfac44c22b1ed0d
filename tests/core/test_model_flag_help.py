"""Model flags in `--help`: a flag several models share shows what they share, or points at the
model's own help; `dnn-suite run MODEL --help` shows that model's flags alone, with its help and defaults."""

from __future__ import annotations

import re

import pytest

from dnn_suite.cli import main


def help_text(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*args, "--help"])
    assert exited.value.code == 0
    return re.sub(r"\s+", " ", capsys.readouterr().out)  # argparse's line wrapping undone


def flag_help(text: str, flag: str) -> str:
    """The help of ``flag`` in the options listing (up to the next option)."""
    return re.search(rf" {re.escape(flag)}(?: VALUE|, --no-\S+)? (.*?)(?= --[a-z][\w-]*[ ,])", text).group(1)


def test_shared_flags_do_not_show_one_models_help(capsys):
    text = help_text(capsys, "run")
    weights = flag_help(text, "--weights")
    assert "effdet" not in weights and "efficientdet; default" not in weights
    assert re.fullmatch(r"an option of \d+ models \(efficientdet, \w+, \.\.\.\); its meaning and default for each "
                        r"in `dnn-suite run MODEL --help`", weights), weights
    amp = flag_help(text, "--amp")  # the same text for every model: shown once, defaults elsewhere
    assert amp.startswith("mixed precision: ") and "each one's default in `dnn-suite run MODEL --help`" in amp
    assert flag_help(text, "--backbone-weights").endswith("(efficientdet; default None)")  # one model's flag


def test_a_models_help_shows_its_own_flags_and_defaults(capsys):
    text = help_text(capsys, "run", "resnet50")
    assert flag_help(text, "--image-size") == "input size in pixels (resnet50; default 224)"
    assert "torch hub cache" in flag_help(text, "--weights") and "--backbone-weights" not in text
    text = help_text(capsys, "train", "efficientdet-d1")
    assert "effdet EfficientDet state dict" in flag_help(text, "--weights") and "--num-classes" not in text
