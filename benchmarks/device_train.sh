#!/usr/bin/env bash
# Fine-tune both shipped models side by side on a lent GPU (the `device` tool); docs/training.md
# ("On a lent GPU") has the whole recipe. Run on the device in the repo root, with `train_subset/`
# carried (benchmarks/pack_training_subset.py: the photos, and LPIPS-Alex's alexnet.ckpt in
# train_subset/lpips/, which the perceptual objective trains on and the device cannot install):
#
#     OUT=... bash benchmarks/device_train.sh
#
# Two phases per model, because the GPU's speed is not known beforehand and the cosine decay is
# counted in steps: PHASE1_MIN minutes at a constant learning rate, then (resumed: Adam state and
# weight average kept) a cosine decay over as many steps as PHASE2_MIN minutes held in phase 1.
# Brings back, in $OUT: <model>.log (stdout), gpu.log (nvidia-smi samples) and back.tar split in
# 15 MiB parts ($OUT takes files of at most 16 MiB): the final weight averages of both models, the
# final raw sdpic-mse weights, and both log.jsonl files.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1 SDPIC_LPIPS_WEIGHTS_DIR=train_subset/lpips
if [ ! -f "$SDPIC_LPIPS_WEIGHTS_DIR/alexnet.ckpt" ]; then  # fail now, not as a perceptual run dying beside the MSE one
  echo "error: no $SDPIC_LPIPS_WEIGHTS_DIR/alexnet.ckpt (pack train_subset with benchmarks/pack_training_subset.py)" >&2
  exit 2
fi
PY=${PYTHON:-python3}
PHASE1=${PHASE1_MIN:-4.5}
PHASE2=${PHASE2_MIN:-2}
RUNS=${RUNS:-/tmp/device_runs}
COMMON=(--data train_subset/images --batch-size "${BATCH:-16}" --crop "${CROP:-256}" --warmup-steps 200
        --snapshot-every 100000000 --ema-decay 0.999 --loader-workers "${WORKERS:-5}")
mkdir -p "$RUNS" "$OUT"

last_step() {  # the newest snapshot's step in run dir $1
  ls "$1"/snapshots/ | sed -n 's/^step_0*\([0-9][0-9]*\)-ema\.safetensors$/\1/p' | sort -n | tail -1
}

train_model() {  # name init-weights objective lr
  local name=$1 init=$2 objective=$3 lr=$4 run=$RUNS/$1
  local start
  start=$($PY -c "from sdpic.zoo import weights_steps; print(weights_steps('$init'))")
  $PY -m sdpic.cli train --run-dir "$run" --init-from "$init" --objective "$objective" --lr "$lr" \
      --steps 100000000 --lr-decay-start 100000000 --max-minutes "$PHASE1" "${COMMON[@]}" >"$OUT/$name.log" 2>&1
  local reached decay_steps
  reached=$(last_step "$run")
  decay_steps=$($PY -c "print(max(1, int(0.95 * ($reached - $start) * $PHASE2 / $PHASE1)))")
  echo "phase 1: $start -> $reached; decay over $decay_steps steps" >>"$OUT/$name.log"
  $PY -m sdpic.cli train --run-dir "$run" --objective "$objective" --lr "$lr" \
      --lr-decay-start "$reached" --steps $((reached + decay_steps)) --max-minutes "$PHASE2" \
      "${COMMON[@]}" >>"$OUT/$name.log" 2>&1
  echo "phase 2 ended at $(last_step "$run")" >>"$OUT/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$OUT/gpu.log" 2>&1
(while sleep 30; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >>"$OUT/gpu.log"; done) &
sampler=$!
train_model sdpic-mse src/sdpic/zoo/sdpic-mse.safetensors mse "${LR_MSE:-1e-4}" &
mse_job=$!
train_model sdpic src/sdpic/zoo/sdpic.safetensors perceptual "${LR_PERCEPTUAL:-5e-5}" &
perceptual_job=$!
wait "$mse_job" "$perceptual_job"
kill $sampler 2>/dev/null

mse=$(last_step "$RUNS/sdpic-mse")
perc=$(last_step "$RUNS/sdpic")
files=()
[ -n "$mse" ] && files+=("sdpic-mse/snapshots/step_$(printf %07d "$mse")-ema.safetensors"
                        "sdpic-mse/snapshots/step_$(printf %07d "$mse").safetensors" sdpic-mse/log.jsonl)
[ -n "$perc" ] && files+=("sdpic/snapshots/step_$(printf %07d "$perc")-ema.safetensors" sdpic/log.jsonl)
tar -C "$RUNS" -cf /tmp/back.tar "${files[@]}" && split -b 15M /tmp/back.tar "$OUT/back.tar.part-"
ls -la "$OUT"
