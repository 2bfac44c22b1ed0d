#!/bin/sh
# Fill benchmarks/gpu/wheels/ (git-ignored; it travels with the working tree to the GPU machine)
# with the cp312 manylinux x86_64 wheels of what that machine's image lacks: effdet and the
# packages it needs beyond torch/torchvision/timm (pycocotools, omegaconf), faster-coco-eval, msgspec,
# and setuptools to install the project itself offline. --no-deps: torch is never downloaded.
set -eu
cd "$(dirname "$0")"
exec "${PYTHON:-python3}" -m pip download --only-binary :all: --python-version 3.12 --implementation cp \
    --abi cp312 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --no-deps -d wheels \
    effdet==0.4.1 pycocotools==2.0.11 faster-coco-eval==1.8.0 omegaconf==2.4.0 msgspec==0.22.0 "setuptools>=77"
