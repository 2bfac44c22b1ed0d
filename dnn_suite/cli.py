"""The ``dnn-suite`` command line: argument parsing, exit codes, error printing.

Exit codes: 0 ok, 1 the run itself failed (recorded in run.json), 2 bad usage or input,
130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM (both handled alike, see signals.py).
Errors are one line on stderr; ``--debug`` shows the traceback.

Light on purpose: this module imports neither torch nor the plugins. The run machinery is
imported inside the commands that run something, and the plugins are loaded only for the
commands that need one (:data:`PLUGIN_COMMANDS`), so that ``--help``, ``env --no-torch``,
``compare``, ``report`` and ``schema`` answer in a fraction of a second without torch installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from dnn_suite import __version__, command, executors, progress, signals
from dnn_suite.atomic import to_json_text
from dnn_suite.command import CHILD_COMMAND
from dnn_suite.datasets import catalogue
from dnn_suite.errors import UsageError
from dnn_suite.options import defaults as option_defaults
from dnn_suite.plugins import discover, new_plugin_manager
from dnn_suite.registry import ModelSpec, ProfilerSpec, Registry
from dnn_suite.run import allocator
from dnn_suite.settings.flags import add_model_flags, add_setting_flags, checked, flag_layer
from dnn_suite.settings.resolve import RunConfig, load_suite, parse_set, resolve, with_point
from dnn_suite.settings.schema import SCHEMAS
from dnn_suite.value_types import Integer, Number

#: the commands that load the plugins (a model, a profiler, a dataset or an analyzer of theirs);
#: the others, and the top-level ``--help`` and ``--version``, answer without them
PLUGIN_COMMANDS = frozenset({"list", "run", "train", "eval", "analyze", "data", CHILD_COMMAND})


def wait_passively() -> None:
    """OpenMP's passive waiting for this process and its children, unless the environment says
    otherwise; called before torch (and its OpenMP runtime) is loaded. With OpenMP's default active
    waiting, torch's threads spin on cores that DataLoader workers or other processes need, which
    slows a training step many times over on a small machine (docs: performance, OpenMP's wait
    policy). Passive waiting costs little when the cores are free."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.partition(" ")[2]  # "dnn-suite run" -> "run"; the top-level parser has none
        raise UsageError(f"{command}: {message}" if command else message)


_positive_int = checked(Integer(minimum=1))
_non_negative_int = checked(Integer(minimum=0))


def _add_common(parser: argparse.ArgumentParser, registry: Registry, model: ModelSpec | None) -> None:
    command = parser.prog.rsplit(" ", 1)[-1]
    parser.add_argument("target", metavar="MODEL", help="model (efficientdet, efficientdet-d3, resnet50: see "
                                                         "`dnn-suite list`) or a benchmark name from --config")
    add_setting_flags(parser, command, distributed=False)
    parser.add_argument("--set", dest="set_pairs", action="append", default=[], metavar="KEY=VALUE",
                        help="override any setting: batch_size=4, model_options.image_size=256, "
                             "profiler_options.nvml.interval_ms=50")
    parser.add_argument("--config", metavar="FILE", help="suite.yaml with defaults and named benchmarks")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_model_flags(parser, registry, model)


def _add_distributed(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("several processes (re-run under torchrun, DistributedDataParallel)")
    group.add_argument("--nproc-per-node", type=_positive_int, metavar="N", help="processes on this node (one per GPU)")
    group.add_argument("--nnodes", type=_positive_int, default=1, metavar="M", help="nodes (default 1)")
    group.add_argument("--node-rank", type=_non_negative_int, default=0, metavar="R", help="this node's rank")
    group.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="node 0's address (several nodes)")
    add_setting_flags(group, parser.prog.rsplit(" ", 1)[-1], distributed=True)


def build_parser(registry: Registry, model: ModelSpec | None = None) -> argparse.ArgumentParser:
    """The parser; with ``model``, ``run``/``train``/``eval`` offer that model's flags alone (for its --help)."""
    parser = _Parser(prog="dnn-suite", description="Training benchmarks for deep neural networks.")
    parser.add_argument("--version", action="version", version=f"dnn-suite {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    listing = commands.add_parser("list", help="models, profilers and broken plugins")
    listing.add_argument("--json", action="store_true")

    env = commands.add_parser("env", help="software and hardware environment")
    env.add_argument("--json", action="store_true")
    env.add_argument("--no-torch", action="store_true",
                     help="without importing torch (a fraction of a second): torch's version from its package, "
                          "CUDA, cuDNN, the GPUs and torch's threads not read")

    schema = commands.add_parser("schema", help="JSON Schema of suite.yaml or run.json (from the settings' "
                                 "declarations)")
    schema.add_argument("document", choices=tuple(SCHEMAS), help="suite: suite.yaml; run: a run's run.json")

    run = commands.add_parser("run", help="benchmark training throughput (warmup + measured window)")
    _add_common(run, registry, model)
    _add_distributed(run)

    train = commands.add_parser("train", help="train a model: epochs or steps, checkpoints, resume")
    _add_common(train, registry, model)
    _add_distributed(train)
    length = train.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=_positive_int)
    length.add_argument("--steps", type=_positive_int)
    train.add_argument("--checkpoint-every", type=_positive_int, metavar="STEPS", help="save a checkpoint every N steps")
    train.add_argument("--eval-every", type=_positive_int, metavar="STEPS", help="evaluate every N steps")
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue a training run from its checkpoint")
    train.add_argument("--log-every", type=_positive_int, metavar="STEPS",
                       help="read the loss on the host (progress, NaN check) every N steps (default 10)")

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint")
    _add_common(evaluate, registry, model)
    evaluate.add_argument("--checkpoint", metavar="PATH", help="checkpoint file written by `dnn-suite train`")

    analyze = commands.add_parser("analyze", help="analyze a profiler artefact, a directory of PyTorch profiler "
                                  "traces or a run directory; timelines end with a diagnosis")
    analyze.add_argument("path", type=Path)
    analyze.add_argument("--json", action="store_true")

    report = commands.add_parser("report", help="Markdown or HTML report of a run or a sweep, with plots")
    report.add_argument("path", type=Path, metavar="RUN_OR_SWEEP_DIR")
    report.add_argument("--format", choices=("md", "html"), help="default: from --output's suffix, else md")
    report.add_argument("--output", type=Path, metavar="FILE", help="default: RUN_OR_SWEEP_DIR/report.md|html")

    compare = commands.add_parser("compare", help="headline metrics of runs side by side, deltas against the first")
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    compare.add_argument("--json", action="store_true")
    compare.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a regression is flagged")
    compare.add_argument("--ignore-busy", action="store_true",
                         help="give verdicts for runs measured on a busy machine too (refused by default)")

    results = commands.add_parser("results", help="every run and sweep under the directories as one table: the "
                                  "settings that differ, throughput, step time, memory, accuracy, status")
    results.add_argument("paths", type=Path, nargs="+", metavar="DIR")
    results.add_argument("--format", choices=("table", "csv", "json", "markdown", "html"),
                         help="default: from --output's suffix (.csv, .json, .md, .html), else table")
    results.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                         help="only the runs whose column or setting matches (also !=, >, >=, <, <= for numbers): "
                              "model=resnet18, model_options.amp=true, throughput>100; repeat for all of several")
    results.add_argument("--sort", metavar="COLUMN", help="sort by this column (e.g. throughput)")
    results.add_argument("--descending", action="store_true", help="with --sort: largest first")
    results.add_argument("--output", type=Path, metavar="FILE", help="write the table here instead of printing it")

    status = commands.add_parser("status", help="a sweep's points or a submitted job: their states from the "
                                 "scheduler and their run directories, the finished points in the sweep's table")
    status.add_argument("path", type=Path, metavar="SWEEP_OR_JOB_DIR")
    status.add_argument("--wait", action="store_true", help="wait until every job has ended")
    status.add_argument("--resubmit-failed", action="store_true",
                        help="run the points that did not end ok again (failed, timed out, cancelled, ...)")
    status.add_argument("--poll", type=checked(Number(above=0, expected="a positive number of seconds")),
                        default=10.0, metavar="SECONDS", help="how often --wait asks the scheduler (default 10)")
    status.add_argument("--json", action="store_true")

    data = commands.add_parser("data", help="download datasets, check a data root").add_subparsers(
        dest="data_command", required=True, parser_class=_Parser)
    data.add_parser("list", help="datasets that can be downloaded")
    download = data.add_parser("download", help="download, verify and extract datasets (resumable)")
    download.add_argument("names", nargs="+", metavar="DATASET")
    download.add_argument("--mirror", metavar="URL", help="base URL replacing each archive URL's scheme and host")
    download.add_argument("--keep-archives", action="store_true", help="keep the archives after extraction")
    check = data.add_parser("check", help="check a data root's layout and annotations, or a voc:/coco: dataset")
    check.add_argument("names", nargs="*", metavar="DATASET",
                       help="catalogue names or specs (voc:DIR, coco:FILE.json); default: every dataset under --root")
    check.add_argument("--images", action="store_true", help="decode every image; list unreadable or truncated ones")
    check.add_argument("--workers", type=_positive_int, metavar="N", help="image-decoding processes (default: cores)")
    check.add_argument("--root", type=Path, metavar="DIR", help="the data root, e.g. /dataset")
    download.add_argument("--root", type=Path, required=True, metavar="DIR", help="the data root, e.g. /dataset")
    return parser


def _help_model(argv: list[str], registry: Registry) -> ModelSpec | None:
    """The model of ``dnn-suite run|train|eval ... MODEL ... --help``: the first argument after the
    command that names one (None without --help, or without a model)."""
    if "--help" not in argv and "-h" not in argv:
        return None
    command = next((i for i, arg in enumerate(argv) if arg in ("run", "train", "eval")), None)
    if command is None:
        return None
    for arg in argv[command + 1:]:
        if not arg.startswith("-"):
            try:
                spec = registry.model(arg)[0].spec
            except UsageError:
                continue
            assert isinstance(spec, ModelSpec)
            return spec
    return None


def _child_parser() -> argparse.ArgumentParser:
    """``dnn-suite _child RUN_DIR``: the re-run under a launcher profiler. Parsed apart from the
    commands, so that an invalid command's error does not list it."""
    parser = _Parser(prog=f"dnn-suite {CHILD_COMMAND}")
    parser.add_argument("run_dir", type=Path)
    parser.set_defaults(command=CHILD_COMMAND, quiet=False)
    return parser


def _config(args: argparse.Namespace, registry: Registry, point: dict[str, Any] | None = None) -> RunConfig:
    """The resolved configuration, its allocator policy put in force for this process and its children;
    with ``point``, that sweep point's (its swept values, ``{"model": ..., "batch_size": 8}``)."""
    from dnn_suite.run.checkpoint_settings import trained_config
    from dnn_suite.run.resume import resume_config

    suite = load_suite(args.config) if args.config else None
    flags = flag_layer(args, parse_set(args.set_pairs))
    if point is not None:
        flags = with_point(flags, point)
    trained = getattr(args, "checkpoint", None) or (flags.get("model_options") or {}).get("weights")
    if getattr(args, "resume", None):  # the run's own settings, and only what may change on resume
        config = resume_config(args.resume, args.target, registry, suite=suite, flags=flags)
    elif isinstance(trained, str) and trained:  # the settings the checkpoint was trained with, unless given
        config = trained_config(Path(trained), args.target, registry, suite=suite, flags=flags)
    else:
        config = resolve(args.target, registry, suite=suite, flags=flags)
    # Before the model is built and any child (launcher, workers, sweep point) starts: see dnn_suite/run/allocator.py.
    allocator.apply(config.allocator)
    return config


def _print_list(registry: Registry, as_json: bool) -> None:
    def origin(entry: Any) -> dict[str, str]:
        return {"plugin": entry.origin.plugin_name, "distribution": entry.origin.distribution,
                "version": entry.origin.version}

    models, profilers = [], []
    for entry in registry.models.values():
        spec: ModelSpec = entry.spec
        models.append({"name": spec.name, "description": spec.description, "variants": list(spec.variants),
                       "default_variant": spec.default_variant, "datasets": list(spec.datasets),
                       "dataset_schemes": list(spec.dataset_schemes),
                       "default_dataset": spec.default_dataset, "default_batch_size": spec.default_batch_size,
                       "family": spec.family, "options": option_defaults(spec.options), **origin(entry)})
    for entry in registry.profilers.values():
        pspec: ProfilerSpec = entry.spec
        profilers.append({"name": pspec.name, "aliases": list(pspec.aliases), "description": pspec.description,
                          "measures": list(pspec.measures), "launcher": pspec.launcher,
                          "requires": list(pspec.requires), "options": option_defaults(pspec.options),
                          **origin(entry)})
    broken = [{"plugin": b.origin.plugin_name, "distribution": b.origin.distribution,
               "version": b.origin.version, "error": b.error} for b in registry.broken]
    if as_json:
        sys.stdout.write(to_json_text({"models": models, "profilers": profilers, "broken": broken}))
        return
    print("Models")
    for members in _by_family(models):
        m = members[0]
        datasets = " ".join([d + ("*" if d == m["default_dataset"] else "") for d in m["datasets"]]
                            + [f"{scheme}..." for scheme in m["dataset_schemes"]])
        print(f"  {m['family'] or m['name']:<14} {m['description']}  [{m['distribution']} {m['version']}]")
        if m["family"]:
            print(f"  {'':<14} models: {' '.join(member['name'] for member in members)}")
        else:
            variants = " ".join(v + ("*" if v == m["default_variant"] else "") for v in m["variants"])
            print(f"  {'':<14} variants: {variants}")
        print(f"  {'':<14} datasets: {datasets}")
    print("Profilers")
    for p in profilers:
        names = p["name"] + (f" ({', '.join(p['aliases'])})" if p["aliases"] else "")
        kind = "launcher" if p["launcher"] else "in-process"
        print(f"  {names:<14} {p['description']}  [{kind}; {p['distribution']} {p['version']}]")
        print(f"  {'':<14} measures: {', '.join(p['measures'])}")
        if p["requires"]:
            print(f"  {'':<14} requires: {', '.join(p['requires'])}")
    if broken:
        print("Broken plugins")
        for b in broken:
            print(f"  {b['plugin']} ({b['distribution']} {b['version']}): {b['error']}")


def _by_family(models: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """One group per family of a distribution (in the order first seen), each model without a family alone."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for m in models:
        key = (m["distribution"], m["family"]) if m["family"] else ("", m["name"])
        groups.setdefault(key, []).append(m)
    return list(groups.values())


def _submitted(args: argparse.Namespace, config: RunConfig) -> int | None:
    """With a scheduler's --executor (outside its job): this command submitted as one job of
    --nnodes x --nproc-per-node tasks (a sweep submits its points itself)."""
    from dnn_suite.run.jobs import submit_command

    if executors.chosen(config.executor) == "local" or config.is_sweep:
        return None
    return submit_command(args.argv, args.command, config.model, config.variant, config.output, nodes=args.nnodes,
                          processes_per_node=args.nproc_per_node or 1, executor_name=config.executor,
                          settings=config.slurm)


def _launched(args: argparse.Namespace, config: RunConfig, registry: Registry) -> int | None:
    """With --nproc-per-node (outside a torchrun worker): this command under torchrun, its exit code."""
    from dnn_suite import distributed
    from dnn_suite.run.runner import resolve_device

    submitted = _submitted(args, config)
    if submitted is not None:
        return submitted
    if not args.nproc_per_node or distributed.in_worker():
        return None
    distributed.check(config, resolve_device(config.device), [registry.profilers[p].spec for p in config.profilers])
    return distributed.launch(args.argv, args.nproc_per_node, args.nnodes, args.node_rank, args.rdzv_endpoint)


def _cmd_run(args: argparse.Namespace, registry: Registry) -> int:
    from dnn_suite.run.runner import Run
    from dnn_suite.run.summary_table import format_summary
    from dnn_suite.run.sweep import run_sweep

    config = _config(args, registry)
    launched = _launched(args, config, registry)
    if launched is not None:
        return launched
    if config.is_sweep:
        return run_sweep(config, lambda point: _config(args, registry, point), registry, as_json=args.json,
                         executor_name=executors.chosen(config.executor),
                         executor_settings=config.slurm)
    run = Run(config, registry)
    run.preflight()
    run_dir = run.create_run_dir()
    if run.context.rank != 0:  # rank 0 reports for every process
        progress.set_quiet(True)
        return run.execute()
    if not args.json:
        config = run.config
        window = f"{config.iterations} iterations" if config.iterations else f"{config.duration} s"
        print(f"dnn-suite: {config.model} {config.variant}, batch {config.batch_size}, {run.context.device}, "
              f"warmup {config.warmup}, window {window} x{config.repeat} -> {run_dir}", file=sys.stderr)
    code = run.execute_under_launcher(echo=not args.json) if run.launcher else run.execute()
    if args.json:
        sys.stdout.write(to_json_text(run.document))
    else:
        print(format_summary(run.document, run_dir))
    return code


def _cmd_child(args: argparse.Namespace, registry: Registry) -> int:
    from dnn_suite.run.runner import Run

    document = json.loads((args.run_dir / "run.json").read_text(encoding="utf-8"))
    config = RunConfig(**document["config"])
    allocator.apply(config.allocator)  # as its parent did (whose environment has set glibc's thresholds already)
    return Run(config, registry, role="child", run_dir=args.run_dir).execute()


def _cmd_task(args: argparse.Namespace, registry: Registry) -> int:
    from dnn_suite.run.train_eval import run_task

    config = _config(args, registry)
    if config.is_sweep:
        what = "batch-size sweep" if config.batch_sizes else "sweep"
        raise UsageError(f"a {what} is for `dnn-suite run`; give `dnn-suite {args.command}` one value of each setting")
    launched = _launched(args, config, registry) if args.command == "train" else None
    if launched is not None:
        return launched
    if args.command == "train":
        task = {"epochs": args.epochs, "steps": args.steps, "checkpoint_every": args.checkpoint_every,
                "eval_every": args.eval_every, "resume": args.resume, "log_every": args.log_every}
    else:
        task = {"checkpoint": args.checkpoint}
    return run_task(args.command, config, registry, task, as_json=args.json)


def _cmd_data(args: argparse.Namespace, registry: Registry) -> int:
    if args.data_command == "list":
        return catalogue.list_datasets(registry)
    if args.data_command == "download":
        return catalogue.download(args.names, registry, args.root, mirror=args.mirror, keep_archives=args.keep_archives)
    return catalogue.check(args.names, registry, args.root, images=args.images, workers=args.workers)


def _cmd_env(args: argparse.Namespace) -> int:
    from dnn_suite.run import environment

    env = environment.capture(with_torch=not args.no_torch)
    sys.stdout.write(to_json_text(env) if args.json else environment.format_environment(env) + "\n")
    return 0


def _dispatch(args: argparse.Namespace, registry: Registry) -> int:
    if args.command == "list":
        _print_list(registry, args.json)
        return 0
    if args.command == "env":
        return _cmd_env(args)
    if args.command == "schema":
        sys.stdout.write(json.dumps(SCHEMAS[args.document](), indent=2) + "\n")
        return 0
    if args.command == "run":
        return _cmd_run(args, registry)
    if args.command in ("train", "eval"):
        return _cmd_task(args, registry)
    if args.command == "analyze":
        from dnn_suite.analyzing import analyze_path

        return analyze_path(args.path, registry.manager.hook.dnn_suite_analyze_file, as_json=args.json)
    if args.command == "data":
        return _cmd_data(args, registry)
    if args.command == "report":
        from dnn_suite.reporting.report import write_report

        return write_report(args.path, args.format, args.output)
    if args.command == "status":
        from dnn_suite.run.jobs import status as job_status

        return job_status(args.path, wait=args.wait, resubmit_failed=args.resubmit_failed, poll_s=args.poll,
                          as_json=args.json)
    if args.command == "results":
        from dnn_suite.reporting.results_output import results_command

        return results_command(args.paths, args.format, args.where, args.sort, args.descending, args.output)
    if args.command == "compare":
        from dnn_suite.reporting.compare import compare_runs

        return compare_runs(args.runs, as_json=args.json, fail_on_regression=args.fail_on_regression,
                            ignore_busy=args.ignore_busy)
    return _cmd_child(args, registry)


def command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` asks for; None for the top-level ``--help`` or ``--version`` (given
    before any command) or no command at all. The top-level options take no value, so the command
    is the first word that is not an option."""
    for word in argv:
        if word in ("-h", "--help", "--version"):
            return None
        if not word.startswith("-"):
            return word
    return None


def _registry(argv: Sequence[str]) -> Registry:
    """Every plugin, for the commands that use one; else none (the parser then offers no model's
    flags, which only ``run|train|eval MODEL --help`` shows)."""
    if command_word(argv) in PLUGIN_COMMANDS:
        return discover()
    return Registry(manager=new_plugin_manager())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    wait_passively()
    signals.install()

    def body() -> int:
        registry = _registry(argv)
        if argv[:1] == [CHILD_COMMAND]:
            args = _child_parser().parse_args(argv[1:])
        else:
            args = build_parser(registry, _help_model(argv, registry)).parse_args(argv)
        args.argv = argv  # what --nproc-per-node re-runs under torchrun
        progress.set_quiet(args.quiet)
        return _dispatch(args, registry)

    return command.guarded(body, debug)


if __name__ == "__main__":
    sys.exit(main())
