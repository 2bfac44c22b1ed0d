"""Mutation testing of the modules where a wrong number is silent, one module at a time, with mutmut.

    python tools/mutation.py                      # every module of tools/mutation.toml
    python tools/mutation.py dnn_suite/atomic.py   # one module (repository path)
    python tools/mutation.py --list               # the modules and the tests each one runs
    python tools/mutation.py --retest MODULE      # only its last survivors, against the current tests
    python tools/mutation.py --report             # the last runs' scores, as a Markdown table
    python tools/mutation.py --by-hand            # the hand-made mutations of tools/mutation.toml

mutmut imports the mutated copy by the module's import name, but the plugins live under
other folder names (``plugins/efficientdet`` is ``dnn_suite_efficientdet``). So each module
is tested in a staging tree, ``build/mutation/<module>/``, laid out by import name: the three
packages and ``tests/``, with a pyproject.toml whose ``[tool.mutmut]`` is the ``[mutmut]`` of
tools/mutation.toml, plus ``only_mutate`` (the module) and the fast unit tests listed for it there. The
run is niced and single-threaded (the development machine has 2 shared cores). The score of
each module (killed / all mutants; timeouts count as killed) is printed; ``--report`` prints
the last runs' scores again as a table. Survivors are listed with ``mutmut results`` in the
module's staging tree and shown with ``mutmut show NAME`` there.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGING = REPO / "build" / "mutation"
SETTINGS = Path(__file__).with_suffix(".toml")
CLASS_SEPARATOR = "\u01c1"  # how mutmut joins class and method in a mutant's name
KILLED = {"killed", "timeout", "caught by type check"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _settings() -> dict:
    return tomllib.loads(SETTINGS.read_text())


def import_path(repo_path: str, package_dirs: dict[str, str]) -> str:
    """``plugins/efficientdet/model/anchors.py`` -> ``dnn_suite_efficientdet/model/anchors.py``."""
    for package, folder in package_dirs.items():
        if repo_path.startswith(folder.rstrip("/") + "/"):
            return package + repo_path[len(folder.rstrip("/")):]
    raise SystemExit(f"mutation: {repo_path} is in none of the packages {sorted(package_dirs)}")


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def stage(repo_path: str, tests: list[str]) -> Path:
    """A fresh staging tree for one module; returns its folder."""
    project = _pyproject()
    package_dirs = project["tool"]["setuptools"]["package-dir"]
    target = import_path(repo_path, package_dirs)
    root = _staging_root(repo_path)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package, folder in package_dirs.items():
        shutil.copytree(REPO / folder, root / package, ignore=ignore)
    shutil.copytree(REPO / "tests", root / "tests", ignore=ignore)
    settings = "\n".join(f"{key} = {json.dumps(value) if not isinstance(value, list) else _toml_list(value)}"
                         for key, value in _settings()["mutmut"].items())
    (root / "pyproject.toml").write_text(
        "[tool.mutmut]\n" + settings + "\n"
        f"source_paths = {_toml_list(sorted(package_dirs))}\n"
        f"only_mutate = {_toml_list([target])}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n\n"
        "[tool.pytest.ini_options]\n"
        f"markers = {_toml_list(project['tool']['pytest']['ini_options']['markers'])}\n")
    return root


def score(root: Path, patterns: list[str]) -> dict[str, int]:
    """Counts by mutmut's verdict, read from ``mutmut results --all true`` (only ``patterns``' mutants if given)."""
    listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=root,
                             capture_output=True, text=True, check=True).stdout
    counts: dict[str, int] = {}
    for line in listing.splitlines():
        name, _, verdict = line.strip().rpartition(": ")
        if name and (not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)):
            counts[verdict] = counts.get(verdict, 0) + 1
    return counts


def _mutant_patterns(repo_path: str, functions: list[str]) -> list[str]:
    """mutmut's mutant-name patterns for some functions of a module (``seed``, ``CoreLoop._iteration``)."""
    module = import_path(repo_path, _pyproject()["tool"]["setuptools"]["package-dir"])
    module = module.removesuffix(".py").replace("/", ".")
    mangled = (f"x{CLASS_SEPARATOR}{name.replace('.', CLASS_SEPARATOR)}" if "." in name else f"x_{name}"
               for name in functions)
    return [f"{module}.{name}__mutmut_*" for name in mangled]


def _staging_root(repo_path: str) -> Path:
    return STAGING / repo_path.replace("/", "_").removesuffix(".py")


def run(repo_path: str, tests: list[str], functions: list[str]) -> None:
    """Stage ``repo_path`` with its ``tests`` and let mutmut mutate it (only ``functions`` if given)."""
    tests = sorted(str(p.relative_to(REPO)) for pattern in tests for p in REPO.glob(pattern))
    _mutmut_run(stage(repo_path, tests), _mutant_patterns(repo_path, functions))


def retest(repo_path: str, functions: list[str]) -> None:
    """Rerun the last run's survivors of a module against the repository's current tests."""
    root = _staging_root(repo_path)
    for tests in (root / "tests", root / "mutants" / "tests"):
        shutil.rmtree(tests, ignore_errors=True)
        shutil.copytree(REPO / "tests", tests, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    patterns = _mutant_patterns(repo_path, functions)
    listing = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=root, capture_output=True, text=True,
                             check=True).stdout
    survivors = [name for name, _, verdict in (line.strip().rpartition(": ") for line in listing.splitlines())
                 if verdict == "survived" and (not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns))]
    if survivors:
        _mutmut_run(root, survivors)


def _mutmut_run(root: Path, names: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("PYTHONPATH", None)
    subprocess.run(["nice", "-n", "10", sys.executable, "-m", "mutmut", "run", "--max-children", "1", *names],
                   cwd=root, env=env, check=True)


def result(repo_path: str, functions: list[str]) -> dict[str, object] | None:
    """The score of a module's last run, from its staging tree (None if it has none)."""
    root = _staging_root(repo_path)
    if not (root / "mutants").is_dir():
        return None
    counts = score(root, _mutant_patterns(repo_path, functions))
    total = sum(counts.values())
    killed = sum(n for verdict, n in counts.items() if verdict in KILLED)
    return {"module": repo_path, "mutants": total, "killed": killed, "verdicts": counts,
            "score": killed / total if total else None}


def staged_tests_fail(repo_path: str, tests: list[str], find: str = "", replace: str = "") -> bool:
    """Stage the packages, replace ``find`` (if given) by ``replace`` in ``repo_path``'s staged copy, run ``tests``
    against that copy: True when they fail."""
    root = stage(repo_path, tests)
    target = root / import_path(repo_path, _pyproject()["tool"]["setuptools"]["package-dir"])
    if find:
        target.write_text(target.read_text().replace(find, replace))
    env = {**os.environ, "PYTHONPATH": str(root)}  # the staged packages before the installed ones
    imported = subprocess.run([sys.executable, "-c", "import dnn_suite; print(dnn_suite.__file__)"], cwd=root,
                              env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(imported).is_relative_to(root):
        raise SystemExit(f"mutation: the tests would import {imported}, not the staged copy in {root}")
    command = ["nice", "-n", "10", sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    return subprocess.run(command, cwd=root, env=env, capture_output=True).returncode != 0


def by_hand(mutations: list[dict], default_tests: list[str]) -> list[tuple[str, bool]]:
    """Each hand-made mutation (``find`` -> ``replace``, exactly one match in ``file``) alone, with its tests:
    (what, killed). The tests must pass on the unmutated code first."""
    for mutation in mutations:
        if (REPO / mutation["file"]).read_text().count(mutation["find"]) != 1:
            raise SystemExit(f"mutation: {mutation['what']}: {mutation['find']!r} is not exactly once in "
                             f"{mutation['file']}")
    every_test = sorted({t for m in mutations for t in m.get("tests", default_tests)})
    if staged_tests_fail(mutations[0]["file"], every_test):
        raise SystemExit(f"mutation: the tests fail without any mutation: {' '.join(every_test)}")
    return [(m["what"], staged_tests_fail(m["file"], m.get("tests", default_tests), m["find"], m["replace"]))
            for m in mutations]


def _report_line(entry: dict[str, object]) -> str:
    verdicts = entry["verdicts"]
    others = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()) if v not in KILLED | {"survived"})
    return (f"| `{entry['module']}` | {entry['mutants']} | {entry['killed']} | {verdicts.get('survived', 0)} | "
            f"{others or '-'} | {entry['score']:.1%} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="repository paths (default: every configured module)")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests, run nothing")
    parser.add_argument("--retest", action="store_true",
                        help="rerun only the last run's survivors, against the current tests")
    parser.add_argument("--by-hand", action="store_true",
                        help="apply each hand-made mutation of tools/mutation.toml alone and run its tests")
    parser.add_argument("--report", action="store_true",
                        help="print the scores of the last runs (a Markdown table), run nothing")
    args = parser.parse_args()
    settings = _settings()
    configured: dict[str, list[str]] = settings["modules"]
    functions: dict[str, list[str]] = settings.get("functions", {})
    unknown = [m for m in args.modules if m not in configured]
    if unknown:
        parser.error(f"not configured in [modules] of tools/mutation.toml: {', '.join(unknown)} "
                     f"(configured: {', '.join(configured)})")
    selected = args.modules or list(configured)
    if args.by_hand:
        outcomes = by_hand(settings["by-hand"], settings["by-hand-tests"])
        for what, killed in outcomes:
            print(f"{'killed  ' if killed else 'SURVIVED'} {what}")
        print(f"mutation: by hand: {sum(k for _, k in outcomes)}/{len(outcomes)} killed")
        return 0
    if args.list:
        for module in selected:
            only = f" (only {', '.join(functions[module])})" if module in functions else ""
            print(f"{module}{only}: {' '.join(configured[module])}")
        return 0
    if args.report:
        print("| module | mutants | killed | survived | other | score |\n|---|---|---|---|---|---|")
        for module in selected:
            entry = result(module, functions.get(module, []))
            print(_report_line(entry) if entry and entry["mutants"] else f"| `{module}` | not run | | | | |")
        return 0
    for module in selected:
        if args.retest:
            retest(module, functions.get(module, []))
        else:
            run(module, configured[module], functions.get(module, []))
        entry = result(module, functions.get(module, []))
        print(f"mutation: {module}: {entry['killed']}/{entry['mutants']} killed ({entry['score']:.1%})"
              if entry and entry["mutants"] else f"mutation: {module}: no mutants")
    return 0


if __name__ == "__main__":
    sys.exit(main())
