"""Python warnings reach the user as one line, ``dnn-suite: warning: ...``, never with the
source line Python prints under it; libraries' deprecation warnings (``torch.jit.script is
deprecated``: a message for the library's programmers) do not reach them; the suite's own do;
--debug shows Python's own output; the caller's warning settings are restored."""

from __future__ import annotations

import os
import warnings

import pytest

from dnn_suite.command import warnings_for_users


def _warn_from(module: str, message: str, category: type[Warning]) -> None:
    """A warning as ``module`` raises it (the filters match the module a warning comes from)."""
    warnings.warn_explicit(message, category, filename=f"/site-packages/{module.replace('.', '/')}.py", lineno=7,
                           module=module, registry={})


def test_a_warning_is_one_line_on_stderr(capsys):
    with warnings_for_users(debug=False):
        _warn_from("torchvision.io", "Failed to load image\n  Python extension:\n  libjpeg missing", UserWarning)
    assert capsys.readouterr().err == ("dnn-suite: warning: Failed to load image Python extension: libjpeg "
                                       "missing\n")


def test_library_deprecations_are_not_shown_the_suites_own_are(capsys):
    with warnings_for_users(debug=False):
        _warn_from("torch.jit._script", "`torch.jit.script` is deprecated.", FutureWarning)
        _warn_from("numpy.core", "old alias", DeprecationWarning)
        _warn_from("dnn_suite_efficientdet.plugin", "option 'scale_min' is going away", FutureWarning)
    assert capsys.readouterr().err == "dnn-suite: warning: option 'scale_min' is going away\n"


def test_debug_keeps_pythons_warnings_and_the_settings_come_back():
    before = (warnings.showwarning, list(warnings.filters))
    with warnings_for_users(debug=True), pytest.warns(FutureWarning, match="is deprecated"):
        _warn_from("torch.jit._script", "`torch.jit.script` is deprecated.", FutureWarning)
    with warnings_for_users(debug=False):
        pass
    assert (warnings.showwarning, list(warnings.filters)) == before


def test_a_command_says_a_librarys_warning_in_one_line(tiny_plugin, cli, tmp_path):
    """A real one: torch's DataLoader warns when asked for more workers than the process may run on."""
    workers = len(os.sched_getaffinity(0)) + 1
    result = cli("run", "tiny", "--iterations", "1", "--warmup", "0", "--output", tmp_path,
                 "--set", f"model_options.loader_workers={workers}")
    assert result.code == 0, result.err
    warning = [line for line in result.err.splitlines() if "warning" in line.lower()]
    assert len(warning) == 1 and warning[0].startswith(f"dnn-suite: warning: This DataLoader will create {workers} "
                                                       "worker processes in total."), result.err
    assert "UserWarning" not in result.err and "site-packages" not in result.err
