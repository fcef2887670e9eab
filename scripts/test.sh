#!/usr/bin/env bash
# Run the whole test suite (installs what is missing first).
# The shared datasets in ../shared are used when present; their tests skip with a message otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvc-workbench/target}"
# GUI tests drive the real app headless; give them a virtual display for file dialogs and fonts.
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null 2>&1; then
  exec xvfb-run -a -s "-screen 0 1600x1000x24" cargo test --all-targets "$@"
fi
exec cargo test --all-targets "$@"
