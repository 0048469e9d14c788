#!/usr/bin/env bash
# Ship new weights for one zoo model and recompute every committed result that depends on them.
#
#   bash benchmarks/ship.sh sdpic-mse runs/sdpic-mse-s12-export.safetensors [LEARNING-CURVE SNAPSHOTS...]
#   bash benchmarks/ship.sh sdpic     runs/sdpic-perc-export.safetensors
#   bash benchmarks/ship.sh sdpic-realism runs/realism-export.safetensors   # sdpic's realism decoder
#
# Stop training first (the bench records encode/decode times). What it does, in order:
#   1. installs WEIGHTS as src/sdpic/zoo/MODEL.safetensors (atomic rename);
#   2. sdpic-mse only: regenerates the golden streams (tests/golden pins the shipped sdpic-mse), adds the
#      snapshots and the shipped file to the 8-image learning curve and a row to kodak24_final.json;
#   3. reruns MODEL's Kodak rows in results/bench/kodak_rd.json (other codecs kept) and redraws the plots,
#      the model cards' measured tables and BD-rates against every codec (all cards), the table vs AVIF
#      and the tables vs JPEG and WebP; then MODEL's rows of the COCO photos (results/bench/coco16_rd.json);
#   4. the default model only: the --saliency none/auto allocation table and figure, and the payoff of the
#      allocation at equal file size (benchmarks/saliency_payoff.py);
#   5. reruns MODEL's task rows (classify / detect / segment) and redraws the task plot and table;
#   6. regenerates the quality-at-equal-rate table (benchmarks/rd_gap.py), the README's comparison
#      (benchmarks/readme_tables.py) and the table of targets in results/README.md (benchmarks/issue_targets.py).
# Recipe changes for the learning-curve plot are stored in its JSON; add new ones first with
#   .venv/bin/python benchmarks/learning_curve.py --out results/codec/learning_curve_kodak8.json --mark STEP:LABEL
# To choose WEIGHTS among snapshots, benchmarks/pick_weights.py. About an hour on 2 cores (the VGG16 metrics
# dominate). The model card prose and the results READMEs are then edited by hand from these files; the
# step times are printed so the READMEs can quote them.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: bash benchmarks/ship.sh MODEL WEIGHTS [SNAPSHOTS...]" >&2
  exit 2
fi
MODEL=$1
WEIGHTS=$2
shift 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=.venv/bin/python
SDPIC=.venv/bin/sdpic
ZOO=src/sdpic/zoo/$MODEL.safetensors
CODECS=$MODEL
if [ "$MODEL" = sdpic-realism ]; then
  # the realism decoder of sdpic's files: sdpic's rows (decoded at its default realism) and sdpic-r0's
  # (the same files at realism 0) are what change; the default realism is ModelEntry.default_realism
  MODEL=sdpic
  CODECS=sdpic,sdpic-r0
  $PY -c "from sdpic.zoo import load_realism_file, REGISTRY; load_realism_file('$WEIGHTS', REGISTRY['sdpic'].path)" \
    || { echo "error: $WEIGHTS is not a realism decoder for the shipped sdpic" >&2; exit 2; }
fi
[ -f "$ZOO" ] || [ "$CODECS" != "$MODEL" ] || { echo "error: no zoo model $MODEL ($ZOO)" >&2; exit 2; }
[ -f "$WEIGHTS" ] || { echo "error: no such weights file $WEIGHTS" >&2; exit 2; }
if pgrep -f "sdpic(\.cli)? train" >/dev/null; then
  echo "error: a training run is going; stop it first (the bench records timings)" >&2
  exit 2
fi
# --update merges MODEL's rows into the committed RD JSON; one from before the metric change (percep /
# percep_eval columns) cannot take them: every codec must be rerun first (results/bench/README.md).
if ! $PY - <<'EOF'
import json, sys
from sdpic.bench.rd import outdated_columns
why = outdated_columns(json.load(open("results/bench/kodak_rd.json")))
if why:
    sys.exit(f"error: results/bench/kodak_rd.json: {why}")
EOF
then
  echo "  first: sdpic bench rd --images ../shared/data/kodak --out results/bench/kodak_rd.json" \
    "--plot results/bench/kodak --workers 2 --force (results/bench/README.md)" >&2
  exit 2
fi
export OMP_WAIT_POLICY=PASSIVE

step() { echo; echo "== $(date -u +%H:%M:%S) UTC: $*"; }

step "install $WEIGHTS as $ZOO"
if [ "$CODECS" != "$MODEL" ]; then  # a realism decoder: rewritten in the shipped form (float16, metadata kept)
  $PY - "$WEIGHTS" "$ZOO" <<'EOF'
import sys
from safetensors import safe_open
from sdpic.zoo import REGISTRY, load_realism_file, save_realism_file
with safe_open(sys.argv[1], framework="pt") as fh:
    meta = {k: v for k, v in (fh.metadata() or {}).items() if k in ("steps", "settings")}
save_realism_file(load_realism_file(sys.argv[1], REGISTRY["sdpic"].path), sys.argv[2], REGISTRY["sdpic"].path, meta)
EOF
else
  cp "$WEIGHTS" "$ZOO.tmp"
  mv "$ZOO.tmp" "$ZOO"
fi
$PY -c "from pathlib import Path; from sdpic.zoo import weights_hash; print('weights', weights_hash(Path('$ZOO')).hex())"

if [ "$MODEL" = sdpic-mse ]; then
  step "golden streams"
  $PY tests/golden/regenerate.py
  step "learning curve (first 8 Kodak images)"
  $PY benchmarks/learning_curve.py "$@" "$ZOO" --limit 8 --out results/codec/learning_curve_kodak8.json \
    --plot results/codec/learning_curve.png
  step "all 24 Kodak images through the learning-curve sweeps"
  $PY benchmarks/learning_curve.py "$ZOO" --limit 24 --out results/codec/kodak24_final.json
fi

step "Kodak rate-distortion rows of $CODECS"
$SDPIC bench rd --images ../shared/data/kodak --codecs "$CODECS" --update results/bench/kodak_rd.json \
  --plot results/bench/kodak --workers 2 --force
# Every card, not only MODEL's: each card's BD-rate table compares its model with the other zoo models too.
for CARD in src/sdpic/zoo/MODEL_CARD_*.md; do
  NAME=${CARD##*/MODEL_CARD_}
  $SDPIC bench report results/bench/kodak_rd.json --codec "${NAME%.md}" --into "$CARD"
done
# sdpic's card also shows its files at realism 0 (the bench's sdpic-r0, when sdpic decodes at another default)
if grep -q -- "--codec sdpic-r0: begin" src/sdpic/zoo/MODEL_CARD_sdpic.md; then
  $SDPIC bench report results/bench/kodak_rd.json --codec sdpic-r0 --into src/sdpic/zoo/MODEL_CARD_sdpic.md
fi
$SDPIC bench report results/bench/kodak_rd.json --reference jpeg > results/bench/kodak_table_vs_jpeg.md
$SDPIC bench report results/bench/kodak_rd.json --reference webp > results/bench/kodak_table_vs_webp.md

step "COCO photos rate-distortion rows of $CODECS"
$SDPIC bench rd --images ../shared/data/coco128/train2017 --limit 16 --dataset coco16 --codecs "$CODECS" \
  --update results/bench/coco16_rd.json --plot results/bench/coco16 --workers 2 --force

if [ "$MODEL" = "$($PY -c 'from sdpic.zoo import DEFAULT_MODEL; print(DEFAULT_MODEL)')" ]; then
  step "saliency allocation (--saliency none vs auto, quality 50) and what it buys at equal file size"
  $PY benchmarks/saliency_allocation.py --images ../shared/data/kodak --quality 50 \
    --out results/saliency_allocation/kodak.json --figure results/saliency_allocation/kodim.png
  $PY benchmarks/saliency_payoff.py --limit 16 --out results/saliency_allocation/payoff.json \
    --figure results/saliency_allocation/payoff.png
fi

step "task rows of $MODEL"
$SDPIC bench task --task classify --codecs "$MODEL" --bpp 0.1,0.15,0.2,0.4 --workers 2 --threads 1 \
  --update results/bench/task_classify.json --force
$SDPIC bench task --task detect --codecs "$MODEL" --bpp 0.1,0.2,0.4 --workers 2 --threads 1 \
  --update results/bench/task_detect.json --force
$SDPIC bench task --task segment --codecs "$MODEL" --bpp 0.1,0.2,0.4 --workers 2 --threads 1 \
  --update results/bench/task_segment.json --force
$SDPIC bench report results/bench/task_classify.json results/bench/task_detect.json \
  results/bench/task_segment.json --plot results/bench/tasks

step "quality differences at equal bitrate (results/bench/rd_gap.md)"
$PY benchmarks/rd_gap.py --out results/bench/rd_gap.md

step "the README's comparison and the table of targets"
$PY benchmarks/readme_tables.py --into README.md
$PY benchmarks/issue_targets.py --into results/README.md

step "done; now update the model card, README and results READMEs from these files"
