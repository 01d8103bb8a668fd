#!/usr/bin/env bash
# The MLflow screenshot of docs/trackers.md: a tiny study run with `--log-to mlflow` into a local SQLite
# tracking store, `mlflow ui` served on 127.0.0.1 only (stopped after), the reached run's page taken in
# headless Chromium. Run from the repository root:
#     bash docs/mlflow-screenshot.sh
#     PY="env PYTHONPATH=$PWD/src /work/main/.venv/bin/python" bash docs/mlflow-screenshot.sh   # a checkout
# Every energy figure in it is what the meters said (an estimate here: no energy counters).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PORT=${PORT:-$($PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")}
WORK=$(mktemp -d)
export MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db"
SERVER=
stop_server() {  # the server and its workers (their own process group), then wait for them
  [ -n "$SERVER" ] || return 0
  kill -- -"$SERVER" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$SERVER" 2>/dev/null || return 0; sleep 1; done
  kill -9 -- -"$SERVER" 2>/dev/null || true
}
trap 'stop_server; rm -rf "$WORK"' EXIT

cat > "$WORK/study.yaml" <<YAML
name: lr-sweep
task: {dataset: digits, model: mlp, model_options: {hidden: [32]}, target_accuracy: 0.9,
       eval_every_steps: 10, max_epochs: 3}
grid: {learning_rate: [0.05, 0.2]}
seeds: [0]
threads: 1
device: cpu
YAML
echo "run started $(date -u +%T) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
$PY -m powertrain run "$WORK/study.yaml" --db "$WORK/runs.db" --log-to mlflow >/dev/null

setsid $PY -m mlflow ui --backend-store-uri "$MLFLOW_TRACKING_URI" --host 127.0.0.1 --port "$PORT" \
  >"$WORK/mlflow.log" 2>&1 &
SERVER=$!
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 1; done
URL=$($PY - <<PYTHON
from mlflow.tracking import MlflowClient
client = MlflowClient()
exp = client.get_experiment_by_name("lr-sweep")
runs = client.search_runs([exp.experiment_id], "tags.\`powertrain.status\` = 'reached'")
print(f"http://127.0.0.1:$PORT/#/experiments/{exp.experiment_id}/runs/{runs[0].info.run_id}")
PYTHON
)
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
  --hide-scrollbars --user-data-dir="$WORK/profile" --window-size=1280,1500 \
  --virtual-time-budget=20000 --screenshot="$PWD/docs/mlflow-run.png" "$URL" 2>/dev/null
echo "docs/mlflow-run.png: $URL"
