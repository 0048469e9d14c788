#!/usr/bin/env bash
# Interleaved A/B of the training metric's cost (benchmarks/metric_speed.py --metric lpips-alex): the working
# tree with and without sdpic.nets.memory.reuse_freed_memory, and optionally the code at a git revision
# (REV: one whose metric_speed.py has --metric, i.e. LPIPS-Alex; older revisions timed other networks).
# Alternating the variants spreads a shared machine's load over all of them; compare the medians of the
# per-run medians.
#   bash benchmarks/metric_speed_ab.sh [ROUNDS] [REV]
set -euo pipefail
ROUNDS=${1:-5}
REV=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY="$ROOT/.venv/bin/python"
VARIANTS=(after after+reuse)
if [ -n "$REV" ]; then
  OLD=$(mktemp -d)
  trap 'rm -rf "$OLD"' EXIT
  git -C "$ROOT" archive "$REV" src benchmarks/metric_speed.py | tar -x -C "$OLD"
  grep -q -- '"--metric"' "$OLD/benchmarks/metric_speed.py" \
    || { echo "error: $REV's metric_speed.py has no --metric (it timed the old uncalibrated networks)" >&2; exit 2; }
  VARIANTS=(before "${VARIANTS[@]}")
fi
export OMP_WAIT_POLICY=PASSIVE
for round in $(seq "$ROUNDS"); do
  for variant in "${VARIANTS[@]}"; do
    case $variant in
      before) cmd=("$PY" "$OLD/benchmarks/metric_speed.py") ;;
      after) cmd=("$PY" "$ROOT/benchmarks/metric_speed.py") ;;
      after+reuse) cmd=("$PY" "$ROOT/benchmarks/metric_speed.py" --reuse-freed-memory) ;;
    esac
    line=$("${cmd[@]}" --metric lpips-alex --repeats 5 2>&1 | grep "fwd+bwd")
    echo "round $round $variant: $line"
  done
done
