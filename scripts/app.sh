#!/usr/bin/env bash
# Launch MVC Workbench on a built-in dataset (installs what is missing first).
#   scripts/app.sh                 # the app on the built-in "gauss3-noise" set
#   scripts/app.sh path/to/file.mat
#   scripts/app.sh strokes16 --model siamese-conv   # any further `gui` flags follow the dataset
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvc-workbench/target}"
# The first argument names the dataset unless it is a flag (`scripts/app.sh --start`).
DATA=gauss3-noise
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  DATA=$1
  shift
fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display found: running under a virtual X server (xvfb-run)."
  exec xvfb-run -a -s "-screen 0 1600x1000x24" cargo run --bin mvc-workbench -- gui --dataset "$DATA" "$@"
fi
exec cargo run --bin mvc-workbench -- gui --dataset "$DATA" "$@"
