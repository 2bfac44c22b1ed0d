"""dnn-suite from Python: benchmark a model, read the run back, compare two runs, catch bad input.

    python examples/python_api.py [OUTPUT_DIR]

The same calls work in a Jupyter notebook (the progress bars are tqdm's there). The script ends
by checking what the API promises: the process's signal handlers, environment, warning filters
and torch's switches are as they were before (docs/python-api.md). It runs in about ten seconds
on a CPU: a 32 px ResNet-18 for a few iterations.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import warnings

import dnn_suite


def own_sigterm_handler(signum: int, frame: object) -> None:
    """A handler this script installs, which the API must leave in place."""
    raise SystemExit(f"signal {signum}")


def process_state() -> dict[str, object]:
    return {
        "signal handlers": {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)},
        "environment": dict(os.environ),
    }


def main(output: str) -> None:
    signal.signal(signal.SIGTERM, own_sigterm_handler)
    before = process_state()
    settings = dict(batch_size=2, iterations=3, warmup=1, workers=0, output=output, model_options={"image_size": 32})

    first = dnn_suite.run("resnet18", **settings)
    # torch and numpy add warning filters of their own when first imported (by the first run):
    # the API's own changes to the filters are checked from here on
    filters = list(warnings.filters)
    second = dnn_suite.run("resnet18", **settings)
    for result in (first, second):
        print(f"{result.run_dir.name}: {result.status}, {result.metrics['throughput']['value']:.1f} samples/s")

    again = dnn_suite.load_run(first.run_dir)
    assert again.metrics == first.metrics

    comparison = dnn_suite.compare(first.run_dir, second.run_dir)
    print(comparison)

    try:
        dnn_suite.run("resnet18", batch_size=0, output=output)
    except dnn_suite.UsageError as error:  # the command line's one-line message
        print(f"refused: {error}")
    else:
        raise AssertionError("batch_size=0 was accepted")

    after = process_state()
    changed = [name for name in before if before[name] != after[name]]
    changed += ["warning filters"] if list(warnings.filters) != filters else []
    assert not changed, f"the API changed the process's {', '.join(changed)}"
    print("signal handlers, environment and warning filters as before")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(folder)
