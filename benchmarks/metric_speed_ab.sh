#!/usr/bin/env bash
# Interleaved A/B of the metric's training-loss cost (benchmarks/metric_speed.py, default backbone):
# the code at a git revision (default fdbca1f, before the speed changes) against the working tree, with and
# without sdpic.nets.memory.reuse_freed_memory. Alternating the variants spreads a shared machine's load
# over all of them; compare the medians of the per-run medians.
#   bash benchmarks/metric_speed_ab.sh [REV] [ROUNDS]
set -euo pipefail
REV=${1:-fdbca1f}
ROUNDS=${2:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY="$ROOT/.venv/bin/python"
OLD=$(mktemp -d)
trap 'rm -rf "$OLD"' EXIT
git -C "$ROOT" archive "$REV" src benchmarks/metric_speed.py | tar -x -C "$OLD"
export OMP_WAIT_POLICY=PASSIVE
for round in $(seq "$ROUNDS"); do
  for variant in before after after+reuse; do
    case $variant in
      before) cmd=("$PY" "$OLD/benchmarks/metric_speed.py") ;;
      after) cmd=("$PY" "$ROOT/benchmarks/metric_speed.py") ;;
      after+reuse) cmd=("$PY" "$ROOT/benchmarks/metric_speed.py" --reuse-freed-memory) ;;
    esac
    line=$("${cmd[@]}" --backbone mobilenet_v2 --repeats 5 2>&1 | grep "fwd+bwd")
    echo "round $round $variant: $line"
  done
done
