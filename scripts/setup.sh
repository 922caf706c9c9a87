#!/usr/bin/env bash
# Install samkit and everything its tests need into the active Python environment.
# torch first and pinned: `pip install torch==2.13.0` takes the local CPU wheel, while an
# unpinned torch pulled in by a dependency would fetch several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[onnx,serve,train,eval,amg,video,dev]"
# The SAM 2 reference for the parity tests (test-only): PyPI sam2 1.1.0 is an sdist whose build asks
# for torch and whose install asks for torchvision, so it goes in without dependencies (hydra-core
# and iopath come with the dev extra), without build isolation (that would fetch a CUDA torch) and
# without its CUDA extension.
SAM2_BUILD_CUDA=0 python -m pip install -q --no-deps --no-build-isolation "sam2==1.1.0"

# The browser annotator: Debian's Chromium for the real-browser tests (never `playwright install`,
# which downloads its own browser), then the web bundle built into src/samkit/serve/static/.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: /usr/bin/chromium missing and not root: browser tests will be skipped" >&2
  fi
fi
if command -v npm >/dev/null; then
  npm --prefix web ci --no-audit --no-fund --loglevel=error
  npm --prefix web run build --silent
else
  echo "setup: npm not found: the annotator bundle is not built (samkit serve answers 503 at /)" >&2
fi
