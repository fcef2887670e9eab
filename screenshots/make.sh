#!/usr/bin/env bash
# Reproducible screenshots of MVC Workbench, made under a virtual X server.
#
#   screenshots/make.sh
#
# Writes, into screenshots/:
#   main-training.png   the main view mid-training on the built-in "gauss3-noise" set
#   inspector.png       the finished run with sample #42 selected in the inspector
#   figure-embedding.png, figure-losses.png, figure-metrics.png, figure-confusion.png
#                       figures exported by the app's "Export all" (plotters, 300 DPI)
#   analysis-confusion.png, analysis-views.png, analysis-uncertainty.png
#                       the finished run's Analysis tile (confusion matrix, per-view, uncertainty)
#   embedding-correct.png
#                       the finished run's embedding coloured by correct / wrong, with its timeline
#   baseline.png        seed 001's AE-conv triplet baseline finished on the built-in "strokes16"
#                       images, a test sample (with its image) in the inspector
#
# Needs: Xvfb, ImageMagick's `import` (apt-get install xvfb imagemagick).
# MID_SECS sets when the mid-training shot is taken (default 6 s after launch).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvc-workbench/target}"
OUT=screenshots
MID_SECS="${MID_SECS:-6}"
SIZE=1600x1000

for tool in Xvfb import; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install xvfb imagemagick" >&2; exit 1; }
done
cargo build --bin mvc-workbench
BIN="$CARGO_TARGET_DIR/debug/mvc-workbench"

DISPLAY_NUM=":$((90 + RANDOM % 9))"
Xvfb "$DISPLAY_NUM" -screen 0 "${SIZE}x24" -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
APP=""
TMP="$(mktemp -d)"
cleanup() {
  [ -n "$APP" ] && kill "$APP" 2>/dev/null || true
  kill "$XVFB" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
export DISPLAY="$DISPLAY_NUM"
sleep 1

# The window fills the virtual screen.
launch() {
  "$BIN" gui --dataset "${DATASET:-gauss3-noise}" --no-persist --light --color-by "${COLOR:-true}" "$@" >"$TMP/app.log" 2>&1 &
  APP=$!
}
shoot() {
  import -window root "$1"
  echo "wrote $1"
}

# 1. Mid-training.
launch --start
sleep "$MID_SECS"
shoot "$OUT/main-training.png"
kill "$APP"; wait "$APP" 2>/dev/null || true; APP=""

# 2. A finished run, sample 42 in the inspector, everything exported.
launch --start --select 42 --export-on-finish "$TMP/export"
for _ in $(seq 1 600); do
  if [ -n "$(find "$TMP/export" -name run.json 2>/dev/null)" ]; then break; fi
  sleep 1
done
[ -n "$(find "$TMP/export" -name run.json 2>/dev/null)" ] || { echo "the run did not finish; log:" >&2; cat "$TMP/app.log" >&2; exit 1; }
sleep 2
shoot "$OUT/inspector.png"
kill "$APP"; wait "$APP" 2>/dev/null || true; APP=""

# 3. Exported figures, as written by the app.
FOLDER="$(dirname "$(find "$TMP/export" -name run.json | head -n1)")"
for fig in embedding losses metrics confusion; do
  cp "$FOLDER/$fig.png" "$OUT/figure-$fig.png"
  echo "wrote $OUT/figure-$fig.png"
done

# 4. The Analysis tile and the embedding's colourings, each on a finished run.
finished_shot() {
  local name="$1"; shift
  rm -rf "$TMP/export"
  launch --start --export-on-finish "$TMP/export" "$@"
  for _ in $(seq 1 600); do
    if [ -n "$(find "$TMP/export" -name run.json 2>/dev/null)" ]; then break; fi
    sleep 1
  done
  sleep 3
  shoot "$OUT/$name.png"
  kill "$APP"; wait "$APP" 2>/dev/null || true; APP=""
}
finished_shot analysis-confusion --tab analysis --analysis confusion
finished_shot analysis-views --tab analysis --analysis views
finished_shot analysis-uncertainty --tab analysis --analysis uncertainty
COLOR=correct finished_shot embedding-correct --tab embedding
DATASET=strokes16 finished_shot baseline --model ae-conv --select "${BASELINE_SAMPLE:-20}"
