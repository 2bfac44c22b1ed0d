#!/usr/bin/env bash
# The original benchmark's flow with Docker: build the image once, then run the suite inside a
# container with the GPUs passed through, the datasets at /dataset and the results folder mounted.
#
#   docker/run.sh build                                    # once (docker build)
#   docker/run.sh run efficientdet --device cuda           # any dnn-suite command line
#   docker/run.sh run --config suite.yaml d0-sweep         # the profile.sh sweep, nsys + ncu passes
#   docker/run.sh data download voc2007 --root /dataset    # fill the dataset folder
#   docker/run.sh shell                                    # a shell in the container
#
# DATASET (default /dataset) and RESULTS (default ./results) are the host folders mounted at
# /dataset and /workspace/results; IMAGE names the image (default dnn-suite).
set -euo pipefail

IMAGE=${IMAGE:-dnn-suite}
DATASET=${DATASET:-/dataset}
RESULTS=${RESULTS:-$PWD/results}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ "${1:-}" == build ]]; then
    exec docker build --file "$REPO/docker/Dockerfile" --tag "$IMAGE" "$REPO"
fi

mkdir -p "$RESULTS"
# SYS_ADMIN: Nsight Compute reads the GPU performance counters (else ERR_NVGPUCTRPERM).
# shm-size: DataLoader worker processes hand batches over through shared memory.
options=(--rm --gpus all --cap-add SYS_ADMIN --shm-size 8g
         --volume "$DATASET:/dataset" --volume "$RESULTS:/workspace/results")
[[ -t 0 && -t 1 ]] && options+=(--interactive --tty)
if [[ "${1:-}" == shell ]]; then
    exec docker run "${options[@]}" --entrypoint bash "$IMAGE"
fi
exec docker run "${options[@]}" "$IMAGE" "$@"
