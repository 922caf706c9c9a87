#!/usr/bin/env bash
# Install samkit and everything its tests need into the active Python environment.
# torch first and pinned: `pip install torch==2.13.0` takes the local CPU wheel, while an
# unpinned torch pulled in by a dependency would fetch several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[onnx,serve,train,eval,dev]"
