#!/usr/bin/env bash
# Every side-by-side benchmark in turn, the figures of each in OUT/NAME.json and its log in OUT/NAME.log.
# The numbers in docs/performance/index.md come from this script. Run it on an otherwise idle machine:
#
#   pip install -e '.[bench]'
#   benchmarks/run_all.sh [OUT]          (default OUT: benchmarks/results-YYYYmmdd-HHMM)
#
# About an hour on 2 cores. Extra arguments for one script: e.g. TRAIN_STEP_ARGS="--rounds 4".
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/results-$(date +%Y%m%d-%H%M)}"
python="${PYTHON:-python}"
mkdir -p "$out"
run() {
    local name="$1"; shift
    echo "== $name $* ($(date +%H:%M:%S))"
    "$python" "$here/$name.py" --json "$out/$name.json" "$@" >"$out/$name.log" 2>&1 \
        || echo "   $name failed: see $out/$name.log"
    grep -E "^(--|   ratio|best mode|total self|   [a-z]+ +(peak|median))" "$out/$name.log" || true
}
run train_step --as-it-comes ${TRAIN_STEP_ARGS:-}
run inference ${INFERENCE_ARGS:-}
run peak_rss ${PEAK_RSS_ARGS:-}
run harness ${HARNESS_ARGS:-}
run torchvision_resnet50 ${TORCHVISION_RESNET50_ARGS:-}
run data_pipeline ${DATA_PIPELINE_ARGS:-}
run scaling ${SCALING_ARGS:-}
run evaluation ${EVALUATION_ARGS:-}
run best_mode ${BEST_MODE_ARGS:-}
run op_profile ${OP_PROFILE_ARGS:-}
run trace_analysis ${TRACE_ANALYSIS_ARGS:-}
run light_commands ${LIGHT_COMMANDS_ARGS:-}
echo "figures in $out"
