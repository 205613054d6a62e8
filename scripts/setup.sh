#!/usr/bin/env bash
# One-time set-up for `make demo` and `make test`: FFmpeg and Java, a virtual environment, the package.
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# System tools: FFmpeg (torchcodec, the synthetic movies, the AD mix), Java (pycocoevalcap's tokenizer and METEOR),
# espeak-ng (spoken descriptions), Chromium (the tests open the pages the package writes), libGL.
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
# OpenCV (an insightface dependency, for `movie101v2 faces`) loads libGL and GLib's libgthread at import.
if command -v ldconfig >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  ldconfig -p | grep 'libGL.so.1 ' >/dev/null || missing+=(libgl1)  # no -q: pipefail and SIGPIPE
  ldconfig -p | grep 'libgthread-2.0.so.0 ' >/dev/null || missing+=(libglib2.0-0)
fi
if ((${#missing[@]})); then
  echo "Installing ${missing[*]} ..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    brew install ffmpeg openjdk espeak-ng && brew install --cask chromium
  else
    echo "Please install ${missing[*]} with your system's package manager and re-run." >&2; exit 1
  fi
fi

[ "${1:-}" = "--system-only" ] && exit 0  # the system tools alone (scripts/setup_vllm.sh)

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev]"
"$VENV/bin/movie101v2" env
