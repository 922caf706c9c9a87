#!/usr/bin/env bash
# Install samkit and everything its tests need into the active Python environment.
# torch first and pinned: `pip install torch==2.13.0` takes the local CPU wheel, while an
# unpinned torch pulled in by a dependency would fetch several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
# Every extra, so the tests of each run: ray (the data engine on Ray), napari + pytest-qt (the napari
# plugin's headless tests; pytest-qt is not in the napari extra, it would break pytest where Qt is
# absent), labelstudio (the ML backend), openvino (the OpenVINO / int8 encoder paths).
python -m pip install -q -e ".[onnx,serve,train,eval,amg,video,ray,napari,labelstudio,openvino,dev]" "pytest-qt>=4.4"
# The SAM 2 reference for the parity tests (test-only): PyPI sam2 1.1.0 is an sdist whose build asks
# for torch and whose install asks for torchvision, so it goes in without dependencies (hydra-core
# and iopath come with the dev extra), without build isolation (that would fetch a CUDA torch) and
# without its CUDA extension.
SAM2_BUILD_CUDA=0 python -m pip install -q --no-deps --no-build-isolation "sam2==1.1.0"

# The open_clip text-prompt adapter's tests (tests/text/test_text_open_clip.py): open_clip without its
# dependencies (torchvision has no working CPU build here; the tests import it through a stand-in),
# plus the two small ones its tokenizer imports.
python -m pip install -q --no-deps "open_clip_torch==3.3.0"
python -m pip install -q "ftfy>=6" "regex>=2023"

# The napari plugin's headless tests (tests/integrations_napari):
# Debian's Xvfb with Qt's xcb libraries, the list napari's own CI installs (napari's OpenGL canvas does
# not start on Qt's offscreen platform). Without them those tests skip.
if ! command -v Xvfb >/dev/null || ! dpkg -s libxcb-cursor0 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb libxkbcommon-x11-0 \
      libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 \
      libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libdbus-1-3 >/dev/null
  else
    echo "setup: Xvfb or Qt's xcb libraries missing and not root: the napari tests will be skipped" >&2
  fi
fi

# The Label Studio ML backend (samkit[labelstudio]) and its tests (tests/integrations_labelstudio): Label
# Studio pins Django and many more, so it lives in its own venv, .venv-labelstudio (~80 s the first time,
# skipped when present); its label-studio-sdk drives the tests from there. Without it those tests skip.
if [ ! -x .venv-labelstudio/bin/label-studio ]; then
  python -m venv .venv-labelstudio
  .venv-labelstudio/bin/python -m pip install -q --upgrade pip
  .venv-labelstudio/bin/python -m pip install -q "label-studio>=1.23,<1.24"
fi

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
