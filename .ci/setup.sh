#!/usr/bin/env bash
# Set up arkit on a fresh machine: system libraries, a virtual environment, the package with
# its dev extras. Idempotent: each step is skipped when already done.
#   VENV=path  (default .venv)   PYTHON=python3.x (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# 1. System libraries the wheels need: open3d (libusb, EGL/GL), moderngl headless (EGL + Mesa),
#    opencv-contrib (libGL, glib), mediapipe (GLES).
SYSTEM_PKGS="libusb-1.0-0 libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libglib2.0-0 libx11-6 libxcb1 libudev1 libgomp1"
if command -v dpkg >/dev/null 2>&1; then
  missing=""
  for p in $SYSTEM_PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "arkit setup: installing system packages:$missing"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q >/dev/null || true
      apt-get install -y -q --no-install-recommends $missing >/dev/null
    else
      echo "arkit setup: missing system packages:$missing"
      echo "  run: sudo apt-get install -y$missing"
      exit 1
    fi
  fi
else
  echo "arkit setup: not a Debian/Ubuntu system; make sure libusb-1.0, EGL and Mesa (libEGL, libGL) are installed."
fi

# 2. Virtual environment and the package (re-installed when pyproject.toml changes).
if [ ! -x "$VENV/bin/python" ]; then
  echo "arkit setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.arkit-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "arkit setup: installing arkit-toolkit[dev] into $VENV (first time takes a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -m pip install -q -e ".[dev]" 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -c "import arkit, cv2, moderngl, av, trimesh" 
  echo "$want" > "$stamp"
fi
