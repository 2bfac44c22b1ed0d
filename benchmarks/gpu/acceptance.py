"""The one-shot GPU acceptance: every CUDA path of dnn-suite once, on the GPU machine, in one command.

    benchmarks/gpu/acceptance.sh OUT_DIR            # on the GPU machine (docs/gpu.md)
    benchmarks/gpu/acceptance.sh OUT_DIR --dry-run  # here: the same steps on the CPU, tiny, with fake tools

Each step is a command (an argument list, never a shell) whose exit code, seconds and key figures
go to ``OUT_DIR/summary.json``; a failing step is recorded and the next one runs. A time budget
(default 450 s, under the 8 minutes a GPU call may take) skips what would not fit, saying so;
``--only`` runs some parts (the dry-run test in the normal suite runs a few).
What comes back is at most 8 files, none over 15 MiB, all directly in OUT_DIR:

  summary.json            every step: command, exit code, expected exit code, seconds, figures
  steps.log               every step's stdout and stderr, one after the other
  env.json                ``dnn-suite env --json`` of the machine
  runs.tar.gz             the run directories, train/eval directories (no checkpoints) and benchmark JSON
  ncu.log                 the nsight run's ncu CSV log, as ncu wrote it (an analyzer fixture)
  nvml_samples.csv        the nvml run's samples, as the sampler wrote them
  torch_trace.pt.trace.json.gz  the torch profiler's kineto trace of the D0 run (rank 0), as written;
                          when it exceeds the size limit, its first events instead (still a trace)

The GPU machine has torch, timm, pluggy, pyyaml, numpy, nvidia-ml-py, matplotlib, psutil and
pytest but no internet; ``--wheels`` (default benchmarks/gpu/wheels, filled by
``benchmarks/gpu/download_wheels.sh`` on a machine with internet) holds the cp312 wheels of what
it lacks, installed with ``--no-deps`` so that nothing replaces its torch. The dry run checks
that those wheels resolve for that machine (``pip install --dry-run``) instead of installing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
FAKES = REPO / "tests" / "profilers" / "fakes"
MAX_FILE_BYTES = 15 * 2**20
TRACE_EXCERPT_EVENTS = 5000
GPU_WHEEL_TARGET = ["--only-binary", ":all:", "--python-version", "3.12", "--implementation", "cp",
                    "--abi", "cp312", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64"]


class Sizes:
    """The work of each step: the GPU's real sizes, or the dry run's tiny ones."""

    def __init__(self, dry_run: bool) -> None:
        self.device = "cpu" if dry_run else "cuda"
        self.image = 64 if dry_run else 512
        self.batches = (2, 4) if dry_run else (16, 32)
        self.warmup = 1 if dry_run else 5
        self.iterations = 2 if dry_run else 30
        self.profiled_iterations = 2 if dry_run else 20
        self.train_steps = 3 if dry_run else 30
        self.rounds = 1 if dry_run else 3
        self.synthetic = ["--set", f"model_options.synthetic_train={8 if dry_run else 256}",
                          "--set", f"model_options.synthetic_val={4 if dry_run else 64}"]
        self.workers = ["--workers", "0"] if dry_run else []  # the CUDA default is the one to check
        self.launch_count = 20 if dry_run else 300
        self.memory_fit = (2, 3) if dry_run else (8, 16)  # below batches[1]; BatchNorm needs 2 at 64 px
        self.timeout_scale = 3 if dry_run else 1  # step time limits are the GPU's; a 2-core CPU is slower


class Acceptance:
    def __init__(self, out: Path, dry_run: bool, wheels: Path, budget_s: float) -> None:
        self.out = out
        self.dry_run = dry_run
        self.wheels = wheels
        self.budget_s = budget_s
        self.sizes = Sizes(dry_run)
        self.scratch = Path(tempfile.mkdtemp(prefix="dnn-suite-acceptance-"))
        self.runs = self.scratch / "runs"
        self.data = self.scratch / "data"
        self.started = time.monotonic()
        self.steps: list[dict[str, Any]] = []
        self.log = open(out / "steps.log", "w", encoding="utf-8")
        self.run_dirs: dict[str, Path] = {}

    # ------------------------------------------------------------------ running steps

    def remaining_s(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def step(self, name: str, command: list[str], *, timeout_s: float, expect: int = 0,
             env: dict[str, str] | None = None,
             figures: Callable[[str], dict[str, Any]] | None = None) -> str | None:
        """Run one step; returns its stdout when it exited as expected, else None."""
        entry: dict[str, Any] = {"name": name, "command": command, "expected_exit": expect}
        self.steps.append(entry)
        limit = min(timeout_s * self.sizes.timeout_scale, self.remaining_s())
        if limit < 5:
            entry.update(exit_code=None, ok=None, seconds=0.0, note="skipped: the time budget is spent")
            return None
        started = time.monotonic()
        try:
            done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=limit,
                                  env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
            code, stdout, stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            code, stdout, stderr = None, _text(exc.stdout), _text(exc.stderr)
            entry["note"] = f"timed out after {limit:.0f} s"
        except OSError as exc:
            code, stdout, stderr = None, "", str(exc)
            entry["note"] = f"could not start: {exc}"
        entry.update(exit_code=code, ok=code == expect, seconds=round(time.monotonic() - started, 2))
        self.log.write(f"===== {name}: exit {code} (expected {expect}), {entry['seconds']} s\n$ {' '.join(command)}\n"
                       f"----- stdout\n{stdout}\n----- stderr\n{stderr}\n")
        self.log.flush()
        if not entry["ok"]:
            entry.setdefault("note", (stderr.strip().splitlines() or ["(no output)"])[-1][:500])
            return None
        if figures is not None:
            try:
                entry["figures"] = figures(stdout)
            except (ValueError, KeyError, TypeError, IndexError, OSError) as exc:
                entry["figures_error"] = f"{type(exc).__name__}: {exc}"
        return stdout

    def skip(self, name: str, reason: str) -> None:
        self.steps.append({"name": name, "command": None, "exit_code": None, "ok": None, "seconds": 0.0,
                           "note": f"skipped: {reason}"})

    def dnn_suite(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "dnn_suite", "--quiet", *args]

    def run_args(self, batch: int, *extra: str) -> list[str]:
        s = self.sizes
        return self.dnn_suite("run", "efficientdet", "--device", s.device, "--image-size", str(s.image),
                              "--batch-size", str(batch), "--warmup", str(s.warmup), "--data-root", str(self.data),
                              "--output", str(self.runs), "--json", *s.synthetic, *s.workers,
                              "--iterations", str(s.iterations), *extra)

    def benchmark_run(self, name: str, batch: int, *extra: str, env: dict[str, str] | None = None,
                      timeout_s: float = 120) -> dict[str, Any] | None:
        stdout = self.step(name, self.run_args(batch, *extra), timeout_s=timeout_s, env=env, figures=run_figures)
        try:
            document = json.loads(stdout or "")
            self.run_dirs[name] = Path(document["run_dir"])
        except (ValueError, KeyError, TypeError):  # the step failed, or its figures_error says why
            return None
        return document

    # ------------------------------------------------------------------ the steps

    def install(self) -> None:
        wheels = sorted(str(p) for p in self.wheels.glob("*.whl"))
        if not wheels:
            self.skip("install wheels", f"no wheels in {self.wheels} (run benchmarks/gpu/download_wheels.sh)")
        pip = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check"]
        env = {"PIP_BREAK_SYSTEM_PACKAGES": "1"}
        if self.dry_run:
            target = str(self.scratch / "pip-target")
            if wheels:
                self.step("install wheels (dry run: resolved for cp312 manylinux x86_64)",
                          [*pip, "--dry-run", *GPU_WHEEL_TARGET, "--target", target, *wheels], timeout_s=120, env=env)
            self.step("install project (dry run)", [*pip, "--dry-run", "--no-build-isolation", str(REPO)],
                      timeout_s=120, env=env)
            return
        if wheels:
            self.step("install wheels", [*pip, *wheels], timeout_s=120, env=env)
        self.step("install project", [*pip, "--no-build-isolation", "-e", str(REPO)], timeout_s=120, env=env)

    def environment(self) -> None:
        stdout = self.step("env", self.dnn_suite("env", "--json"), timeout_s=60,
                           figures=lambda out: {k: v for k, v in json.loads(out).items()
                                                if k in ("torch", "cuda", "cudnn", "gpus", "driver", "cpu_count")})
        if stdout:
            (self.out / "env.json").write_text(stdout, encoding="utf-8")

    def gpu_tests(self) -> None:
        self.step("pytest -m gpu", [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                                    "tests"], timeout_s=240, figures=pytest_figures, expect=0)

    def throughput(self) -> None:
        small, large = self.sizes.batches
        self.benchmark_run(f"run fp32 bs{small}", small)
        self.benchmark_run(f"run fp32 bs{large}", large)
        self.benchmark_run(f"run amp bs{large}", large, "--amp")
        self.benchmark_run(f"run best bs{large} (bf16 autocast, channels-last, TF32 off)", large, "--amp",
                           "--amp-dtype", "bfloat16", "--channels-last")
        self.benchmark_run(f"run fp32 bs{small} --timing synchronized", small, "--timing", "synchronized")

    def profilers(self) -> None:
        small = self.sizes.batches[0]
        extra, env = [], None
        if self.dry_run:  # the fake pynvml, watching its device 0
            extra, env = ["--set", "profiler_options.nvml.devices=[0]"], {"PYTHONPATH": _pythonpath(FAKES)}
        document = self.benchmark_run(f"run fp32 bs{small} --profiler nvml,torch", small, "--profiler", "nvml,torch",
                                      "--iterations", str(self.sizes.profiled_iterations), *extra, env=env)
        if document:
            run_dir = Path(document["run_dir"])
            _copy(run_dir / "nvml" / "samples.csv", self.out / "nvml_samples.csv")
            traces = run_dir / "torch" / "traces"
            bring_trace(traces / "rank0.pt.trace.json.gz", self.out / "torch_trace.pt.trace.json.gz")
            self.step("analyze the torch trace (where the D0 step's time goes)",
                      self.dnn_suite("analyze", str(traces), "--json"), timeout_s=60, figures=trace_figures)
        nsight_env = {"PATH": _path(FAKES / "bin")} if self.dry_run else None
        self.step(
            f"run fp32 bs{small} --profiler nsight", self.dnn_suite(
                "run", "efficientdet", "--device", self.sizes.device, "--image-size", str(self.sizes.image),
                "--batch-size", str(small), "--warmup", "3", "--iterations", "1", "--data-root", str(self.data),
                "--output", str(self.runs), "--json", *self.sizes.synthetic, *self.sizes.workers,
                "--profiler", "nsight", "--set", f"profiler_options.nsight.launch_count={self.sizes.launch_count}"),
            timeout_s=240, env=nsight_env, figures=run_figures)
        if self.steps[-1].get("figures"):
            run_dir = self.runs / self.steps[-1]["figures"]["run_dir"]
            log = run_dir / "nsight" / f"ncu_bs{small}.log"
            _copy(log, self.out / "ncu.log")
            self.step("analyze the ncu log", self.dnn_suite("analyze", str(log), "--json"), timeout_s=60,
                      figures=analyze_figures)
        for tool in ("nsys", "nvprof"):  # not installed on the GPU machine: refused before anything runs
            self.step(f"run --profiler {tool} (refused: not installed)",
                      self.run_args(small, "--profiler", tool), timeout_s=60, expect=2,
                      env={"PATH": _path()}, figures=None)

    def distributed(self) -> None:
        small = self.sizes.batches[0]
        self.benchmark_run(f"run fp32 bs{small} --nproc-per-node 1", small, "--nproc-per-node", "1")

    def train_and_eval(self) -> None:
        s = self.sizes
        small = s.batches[0]
        trained = self.step("train (short)", self.dnn_suite(
            "train", "efficientdet", "--device", s.device, "--image-size", str(s.image), "--batch-size", str(small),
            "--steps", str(s.train_steps), "--log-every", "5", "--data-root", str(self.data), "--output",
            str(self.runs), "--json", *s.synthetic, *s.workers), timeout_s=180, figures=train_figures)
        checkpoint = (self.steps[-1].get("figures") or {}).get("checkpoint")
        if not trained or not checkpoint:
            self.skip("eval of the trained checkpoint", "the training step did not succeed")
            return
        self.step("eval of the trained checkpoint", self.dnn_suite(
            "eval", "efficientdet", "--device", s.device, "--image-size", str(s.image), "--checkpoint", checkpoint,
            "--dataset", "synthetic", "--data-root", str(self.data), "--output", str(self.runs), "--json",
            *s.synthetic, *s.workers), timeout_s=120, figures=eval_figures)

    def report(self) -> None:
        name = f"run fp32 bs{self.sizes.batches[0]}"
        if name not in self.run_dirs:
            self.skip("report", f"'{name}' did not succeed")
            return
        run_dir = self.run_dirs[name]
        self.step("report", self.dnn_suite("report", str(run_dir)), timeout_s=120,
                  figures=lambda out: {"report": str(run_dir / "report.md"),
                                       "written": (run_dir / "report.md").is_file()})

    def side_by_side(self) -> None:
        s = self.sizes
        small = s.batches[0]
        bench = [sys.executable]
        common = ["--device", s.device, "--rounds", str(s.rounds)]
        for amp in ([], ["--amp"]):
            label = "amp" if amp else "fp32"
            self.step(f"train step vs effdet {label} bs{small}", [
                *bench, "benchmarks/train_step.py", *common, *amp, "--variants", "d0", "--image-size", str(s.image),
                "--batch-size", str(small), "--json", str(self.runs / f"train_step_{label}.json")],
                timeout_s=150, figures=lambda out, f=f"train_step_{label}.json": comparison_figures(self.runs / f))
            self.step(f"inference vs effdet {label} bs{small}", [
                *bench, "benchmarks/inference.py", *common, *amp, "--image-size", str(s.image),
                "--batch-sizes", str(small), "--json", str(self.runs / f"inference_{label}.json")],
                timeout_s=150, figures=lambda out, f=f"inference_{label}.json": comparison_figures(self.runs / f))

    def harness(self) -> None:
        s = self.sizes
        small = s.batches[0]
        # --in-process: both sides in one process (one start-up, one synthetic data set), alternating
        self.step(f"harness vs bare loop (synchronized at the window's ends) bs{small}", [
            sys.executable, "benchmarks/harness.py", "--in-process", "--device", s.device, "--rounds", str(s.rounds),
            "--image-size", str(s.image), "--batch-size", str(small), "--warmup", str(s.warmup),
            "--iterations", str(s.iterations), "--workers", "0" if self.dry_run else "8",
            "--json", str(self.runs / "harness.json")],
            timeout_s=240, figures=lambda out: comparison_figures(self.runs / "harness.json"))

    def memory(self) -> None:
        listed = subprocess.run(self.dnn_suite("list", "--json"), cwd=REPO, capture_output=True, text=True)
        names = {p["name"] for p in json.loads(listed.stdout or "{}").get("profilers", [])} if listed.returncode == 0 \
            else set()
        if "memory" not in names:
            self.skip("run --profiler memory", "no profiler named memory is registered in this checkout")
            return
        # fitted on two smaller batch sizes, checked at the largest (the bound: within 10%)
        large, fit_sizes = self.sizes.batches[1], self.sizes.memory_fit
        self.benchmark_run(f"run fp32 bs{large} --profiler memory (fit on {fit_sizes[0]}, {fit_sizes[1]})", large,
                           "--profiler", "memory", "--iterations", "5",  # the tracked iterations are the point
                           "--set", f"profiler_options.memory.fit_batch_sizes=[{fit_sizes[0]},{fit_sizes[1]}]",
                           timeout_s=240)

    # ------------------------------------------------------------------ results

    def finish(self) -> dict[str, Any]:
        self.log.close()
        left_out = pack(self.runs, self.out / "runs.tar.gz")
        oversized = []
        for path in sorted(self.out.iterdir()):
            if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
                oversized.append(f"{path.name} ({path.stat().st_size} bytes)")
                path.unlink()
        summary = {
            "dry_run": self.dry_run,
            "device": self.sizes.device,
            "seconds": round(time.monotonic() - self.started, 1),
            "budget_s": self.budget_s,
            "steps_ok": sum(1 for s in self.steps if s.get("ok")),
            "steps_failed": [s["name"] for s in self.steps if s.get("ok") is False],
            "steps_skipped": [s["name"] for s in self.steps if s.get("ok") is None],
            "left_out_of_runs_tar": left_out,
            "removed_over_size_limit": oversized,
            "steps": self.steps,
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(self.scratch, ignore_errors=True)
        return summary


# ---------------------------------------------------------------------- figures of each kind of step


def run_figures(stdout: str) -> dict[str, Any]:
    document = json.loads(stdout)
    metrics = document.get("metrics") or {}
    memory = metrics.get("memory") or {}
    figures = {
        "status": document["status"], "error": document.get("error"),
        "throughput_samples_per_s": (metrics.get("throughput") or {}).get("value"),
        "step_time_median_ms": _ms((metrics.get("step_time_s") or {}).get("median")),
        "data_loading_share": metrics.get("data_loading_share"),
        "cuda_max_allocated_mib": _mib(memory.get("cuda_max_allocated_bytes")),
        "cuda_max_reserved_mib": _mib(memory.get("cuda_max_reserved_bytes")),
        "timing": document.get("timing"), "backends": document.get("backends"),
        "data_loader_workers": (document.get("data_loader") or {}).get("workers"),
        "run_dir": Path(document["run_dir"]).name,
    }
    if metrics.get("distributed"):
        figures["distributed"] = {k: metrics["distributed"][k] for k in ("world_size", "backend")}
    for name, report in (document.get("profilers") or {}).items():
        figures[f"profiler {name}"] = report.get("error") or {k: m.get("value") for k, m in report["metrics"].items()}
    return figures


def train_figures(stdout: str) -> dict[str, Any]:
    metrics = json.loads(stdout)["metrics"]
    return {k: metrics.get(k) for k in ("steps", "images_per_s", "first_loss", "final_loss", "checkpoint")}


def eval_figures(stdout: str) -> dict[str, Any]:
    metrics = json.loads(stdout)["metrics"]
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and k != "summary"}


def analyze_figures(stdout: str) -> dict[str, Any]:
    """``dnn-suite analyze --json`` prints an analysis per file: their metrics' values."""
    return {Path(source).name: {key: metric.get("value") for key, metric in analysis["metrics"].items()}
            for source, analysis in json.loads(stdout).items()}


def trace_figures(stdout: str) -> dict[str, Any]:
    """The trace analysis of ``dnn-suite analyze TRACES --json``: its figures, the phases and the
    diagnosis (what docs/gpu.md publishes as the breakdown of our D0 step)."""
    analysis = next(iter(json.loads(stdout).values()))
    tables = analysis.get("tables") or {}
    return {"metrics": {key: metric.get("value") for key, metric in analysis["metrics"].items()},
            "phases": tables.get("phases", []), "per_device": tables.get("per_device", []),
            "top_kernels": [{k: row.get(k) for k in ("share", "calls", "category", "operator", "name")}
                            for row in tables.get("top_kernels", [])[:10]],
            "diagnosis": [{k: row[k] for k in ("finding", "evidence", "fix")} for row in tables.get("diagnosis", [])]}


def comparison_figures(path: Path) -> dict[str, Any]:
    results = json.loads(path.read_text(encoding="utf-8"))
    figures = {}
    for entry in results["comparisons"]:
        if "value" in entry:  # a single figure (the harness ratio)
            figures[entry["name"]] = {"value": entry["value"], "unit": entry["unit"], "target": entry["target"]}
        else:
            figures[entry["name"]] = {
                "ours_images_per_s": entry["ours"].get("images_per_s_median"),
                "theirs_images_per_s": entry["theirs"].get("images_per_s_median"),
                "ratio_of_medians": entry["ratio_of_medians"], "median_of_round_ratios": entry["median_of_round_ratios"],
                "target": entry["target"]}
    return figures


def pytest_figures(stdout: str) -> dict[str, Any]:
    last = [line for line in stdout.strip().splitlines() if line.strip()][-1]
    counts = {}
    for part in last.strip("= ").split(" in ")[0].split(","):
        number, _, what = part.strip().partition(" ")
        if number.isdigit():
            counts[what] = int(number)
    return {"summary": last.strip("= "), **counts}


# ---------------------------------------------------------------------- files


def bring_trace(trace: Path, target: Path) -> None:
    """The gzipped kineto trace as written; over the size limit, its first events (still a valid
    trace, the other top-level keys kept, gzipped)."""
    if not trace.is_file():
        return
    if trace.stat().st_size <= MAX_FILE_BYTES:
        shutil.copyfile(trace, target)
        return
    document = json.loads(gzip.decompress(trace.read_bytes()))
    events = document.get("traceEvents", [])
    document["traceEvents"] = events[:TRACE_EXCERPT_EVENTS]
    document["dnn_suite_excerpt"] = {"events_kept": len(document["traceEvents"]), "events_in_trace": len(events)}
    target.write_bytes(gzip.compress(json.dumps(document).encode("utf-8")))


def pack(folder: Path, archive: Path) -> list[str]:
    """``folder`` as a .tar.gz without the checkpoints (tens of MB, of no use to bring back); if
    that exceeds the size limit, again without the torch traces (the next largest artefacts).
    Returns what was left out."""
    if not folder.is_dir():
        return []
    for leave_out in (("*.pt",), ("*.pt", "*.pt.trace.json.gz")):
        left_out: list[str] = []
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(folder.rglob("*")):
                if not path.is_file():
                    continue
                if any(path.match(pattern) for pattern in leave_out):
                    left_out.append(str(path.relative_to(folder)))
                    continue
                tar.add(path, arcname=str(Path("runs") / path.relative_to(folder)))
        if archive.stat().st_size <= MAX_FILE_BYTES:
            break
    return left_out


def _copy(source: Path, target: Path) -> None:
    if source.is_file():
        shutil.copyfile(source, target)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def _path(*first: Path) -> str:
    """PATH without the fake tools' folder (unless given first): the GPU machine has no nsys or nvprof."""
    kept = [p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != FAKES / "bin"]
    return os.pathsep.join([*map(str, first), str(Path(sys.executable).parent), *kept])


def _pythonpath(*first: Path) -> str:
    return os.pathsep.join([*map(str, first), *filter(None, [os.environ.get("PYTHONPATH")])])


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 3)


def _mib(size: int | None) -> float | None:
    return None if size is None else round(size / 2**20, 1)


# part name (--only) -> Acceptance method, in the order they run
PARTS = {"install": "install", "env": "environment", "gpu-tests": "gpu_tests", "throughput": "throughput",
         "profilers": "profilers", "harness": "harness", "side-by-side": "side_by_side", "distributed": "distributed",
         "train": "train_and_eval", "report": "report", "memory": "memory"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="output directory (created; must be empty if it exists)")
    parser.add_argument("--dry-run", action="store_true", help="the same steps on the CPU, tiny, with fake tools")
    parser.add_argument("--wheels", type=Path, default=REPO / "benchmarks" / "gpu" / "wheels")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="start no step after this many seconds (default 450; dry run 1800)")
    parser.add_argument("--only", default=None, metavar="PARTS",
                        help=f"comma-separated parts to run, of {','.join(PARTS)} (default all)")
    args = parser.parse_args(argv)
    parts = args.only.split(",") if args.only else list(PARTS)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--only: unknown part {unknown[0]!r} (parts: {', '.join(PARTS)})")
    args.out.mkdir(parents=True, exist_ok=True)
    if any(args.out.iterdir()):
        print(f"acceptance: error: {args.out} is not empty; give a new or empty output directory", file=sys.stderr)
        return 2
    budget = args.budget_s or (1800.0 if args.dry_run else 450.0)
    acceptance = Acceptance(args.out, args.dry_run, args.wheels, budget)
    for part in parts:
        getattr(acceptance, PARTS[part])()
    summary = acceptance.finish()
    print(f"acceptance: {summary['steps_ok']} steps ok, {len(summary['steps_failed'])} failed "
          f"({', '.join(summary['steps_failed']) or 'none'}), {len(summary['steps_skipped'])} skipped, "
          f"{summary['seconds']} s -> {args.out / 'summary.json'}")
    return 0 if not summary["steps_failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
