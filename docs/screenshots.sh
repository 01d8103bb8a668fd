#!/usr/bin/env bash
# Screenshots for docs/: `powertrain run` in a terminal (mid-run and at the end), and the report at a
# desktop's and a phone's width. Run from the repository root after `make demo` set up the venv:
#     bash docs/screenshots.sh            # runs the demo study into a fresh store under $TMPDIR
#     STUDY=src/powertrain/studies/demo.yaml COLS=110 bash docs/screenshots.sh
#     PY="env PYTHONPATH=$PWD/src python" DB=/tmp/shot.db bash docs/screenshots.sh   # a checkout, store kept
# Needs tmux and chromium. Every energy figure in the pictures is whatever the meters said (an estimate
# on machines without counters; the header says so).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STUDY=${STUDY:-src/powertrain/studies/demo.yaml}
COLS=${COLS:-110}
ROWS=${ROWS:-32}
MID_S=${MID_S:-45}             # when to take the mid-run picture
WORK=$(mktemp -d)
DB=${DB:-$WORK/shot.db}        # set DB to keep the store (and resume into it) after the pictures
SESSION="powertrain-shot-$$"
trap 'tmux kill-session -t "$SESSION" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# 1. The run, in a terminal of fixed size; the shell stays open so the end can be captured too.
echo "run started $(date -u +%T) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
tmux new-session -d -s "$SESSION" -x "$COLS" -y "$ROWS" \
  "$PY -m powertrain run $STUDY --db $DB; echo; echo '[done]'; sleep 3600"
sleep "$MID_S"
tmux capture-pane -t "$SESSION" -e -p > "$WORK/run-progress.ansi"
until tmux capture-pane -t "$SESSION" -p -S -200 | grep -q '^\[done\]'; do sleep 5; done
tmux capture-pane -t "$SESSION" -e -p -S -200 | sed '/^\[done\]/,$d' > "$WORK/run-done.ansi"
echo "run finished $(date -u +%T) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
$PY docs/ansi_to_png.py "$WORK/run-progress.ansi" docs/run-progress.png "$COLS" "powertrain run (running)"
$PY docs/ansi_to_png.py "$WORK/run-done.ansi" docs/run-done.png "$COLS" "powertrain run (finished)"

# 2. The report of the same store, at a desktop's and a phone's width (full page height).
STUDY_NAME=$($PY -c "import sys; from powertrain.study.config import load_study; print(load_study(sys.argv[1]).name)" "$STUDY")
$PY -m powertrain report --db "$DB" --study "$STUDY_NAME" --out "$WORK/report" >/dev/null
REPORT=$(ls "$WORK"/report/*.html | head -1)
for shot in desktop:1280 phone:390; do
  name=${shot%%:*}; width=${shot##*:}
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
    --hide-scrollbars --user-data-dir="$WORK/profile-$name" --window-size="$width,2400" \
    --screenshot="$PWD/docs/report-$name.png" "file://$REPORT" >/dev/null 2>&1
done
ls -l docs/*.png
