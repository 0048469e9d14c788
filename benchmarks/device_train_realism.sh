#!/usr/bin/env bash
# Continue the realism decoder's training on a lent GPU (the `device` tool) from the state file kept in the
# repository, for MINUTES minutes, and bring back the new state file and the averaged decoder. Run on the
# device in the repo root, with `train_subset/` carried (benchmarks/pack_training_subset.py: the photos with
# their saliency masks, and LPIPS-Alex's alexnet.ckpt in train_subset/lpips/, which the loss needs):
#
#     OUT=... MINUTES=7 bash benchmarks/device_train_realism.sh
#
# Here afterwards: copy $OUT/state.safetensors over checkpoints/sdpic-realism-state.safetensors (the next run,
# on any machine, continues from it with --init-from) and probe $OUT/realism.safetensors with
# benchmarks/realism_probe.py. Settings are the CPU run's (docs/training.md), at a larger batch.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1 SDPIC_LPIPS_WEIGHTS_DIR=${SDPIC_LPIPS_WEIGHTS_DIR:-train_subset/lpips}
if [ ! -f "$SDPIC_LPIPS_WEIGHTS_DIR/alexnet.ckpt" ]; then
  echo "error: no $SDPIC_LPIPS_WEIGHTS_DIR/alexnet.ckpt (pack train_subset with benchmarks/pack_training_subset.py)" >&2
  exit 2
fi
PY=${PYTHON:-python3}
STATE=${STATE:-checkpoints/sdpic-realism-state.safetensors}
RUN=${RUN:-/tmp/realism_run}
mkdir -p "$OUT" "$RUN"
init=()
[ -f "$STATE" ] && init=(--init-from "$STATE")
(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no nvidia-smi") >"$OUT/gpu.log" 2>&1
$PY -m sdpic.cli train --objective realism --run-dir "$RUN" "${init[@]}" --data "${DATA:-train_subset/images}" \
    --discriminator "${DISC:-pixels}" --disc-lr "${DISC_LR:-1e-3}" --adversarial-weight "${ADV:-40}" \
    --batch-size "${BATCH:-16}" --crop "${CROP:-256}" --steps "${STEPS:-100000000}" --max-minutes "${MINUTES:-7}" \
    --snapshot-every 100000000 --ema-decay "${EMA:-0.999}" --loader-workers "${WORKERS:-5}" ${EXTRA:-} \
    --save-state "$OUT/state.safetensors" --export "$OUT/realism.safetensors" >"$OUT/train.log" 2>&1
status=$?
cp "$RUN/log.jsonl" "$OUT/" 2>/dev/null
ls -la "$OUT"
exit $status
