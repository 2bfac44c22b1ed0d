"""Wall time and peak memory of the commands that need no model, before and after they stopped
importing torch (issue 23), each in a fresh process as a user types it.

    python benchmarks/light_commands.py [--before COMMIT] [--rounds 3] [--json FILE]

*Before* is the suite at ``--before`` (default: the last commit whose commands all imported
torch), checked out into a temporary git worktree and put first on PYTHONPATH; *after* is this
checkout. Both use this environment's packages and its editable install of the plugins and
profilers (only ``dnn_suite`` itself differs). Each command runs ``--rounds`` times, alternating
before and after; the figures are the median wall time and the median peak resident memory of
the process (``wait4``'s ``ru_maxrss``). ``env --no-torch`` did not exist before: its *before* is
``env``. Two run directories for ``compare`` and ``report`` are made first (a 32 px ResNet-18,
2 iterations); ``analyze`` reads the real PyTorch profiler trace of the tests' fixtures.
Not a test: figures for docs/performance (the "Light commands" section).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEFORE = "69181ea"  # the commit before "Light commands (issue 23)"
#: what the console script runs (pyproject's [project.scripts]), in both trees
ENTRY = "import sys; from dnn_suite.entry import main; sys.exit(main(sys.argv[1:]))"
TRACE = REPO / "tests" / "profilers" / "fixtures" / "kineto" / "real" / "resnet_v100_rank0.pt.trace.json.gz"


def measure(argv: list[str], pythonpath: str | None, cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of the ``dnn-suite`` console script's entry with ``argv``, in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", ENTRY, *argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=env, cwd=cwd)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    error = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"dnn-suite {' '.join(argv)} exited with {child.returncode}: {error.strip()[-500:]}")
    return wall, usage.ru_maxrss / 1024


def make_runs(folder: Path) -> list[Path]:
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "dnn_suite", "--quiet", "run", "resnet18", "--batch-size", "2",
                        "--iterations", "2", "--warmup", "1", "--workers", "0", "--set", "model_options.image_size=32",
                        "--output", str(folder)], check=True, capture_output=True)
    return sorted(path for path in folder.iterdir() if (path / "run.json").is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help=f"the commit to measure as before (default {BEFORE})")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        worktree = scratch_dir / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.before],
                       check=True, capture_output=True)
        try:
            runs = make_runs(scratch_dir / "runs")
            trace = scratch_dir / TRACE.name
            trace.write_bytes(TRACE.read_bytes())
            report = str(scratch_dir / "report.md")
            commands = {  # label: (before's arguments, after's arguments)
                "--help": (["--help"], ["--help"]),
                "env --no-torch": (["env"], ["env", "--no-torch"]),
                "compare": (["compare", *map(str, runs)], ["compare", *map(str, runs)]),
                "report": (["report", str(runs[0]), "--output", report], ["report", str(runs[0]), "--output", report]),
                "schema run": (["schema", "run"], ["schema", "run"]),
                "analyze (a trace)": (["analyze", str(trace)], ["analyze", str(trace)]),
                "list": (["list"], ["list"]),
            }
            figures = {}
            for label, (before_argv, after_argv) in commands.items():
                samples: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
                for _ in range(args.rounds):
                    samples["before"].append(measure(before_argv, str(worktree), scratch_dir))
                    samples["after"].append(measure(after_argv, None, scratch_dir))
                figures[label] = {side: {"wall_s": round(statistics.median(s[0] for s in values), 2),
                                         "peak_rss_mib": round(statistics.median(s[1] for s in values))}
                                  for side, values in samples.items()}
                print(f"{label:<20} before {figures[label]['before']['wall_s']:5.2f} s "
                      f"{figures[label]['before']['peak_rss_mib']:5d} MiB   after {figures[label]['after']['wall_s']:5.2f} s "
                      f"{figures[label]['after']['peak_rss_mib']:5d} MiB", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=False)
    document = {"before": args.before, "rounds": args.rounds, "python": sys.version.split()[0],
                "cpu_count": os.cpu_count(), "commands": figures}
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
