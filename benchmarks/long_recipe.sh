#!/usr/bin/env bash
# The shipped model's two-stage training recipe (README, "The shipped model") for any variant and seed:
#   stage 1, phase 1: batch-all mining, 5 epochs of a 12-epoch schedule (from scratch)
#   stage 1, phase 2: batch-hard mining, resumed to epoch 10; exported to fp16
#   stage 2: fine-tune from the fp16 stage 1 with the camera-response augmentation (batch-hard,
#            5 epochs, lr 5e-5, 50 warm-up steps); exported to fp16
#            (STAGE2_MINING=batch-all: the same fine-tune with batch-all mining, under which the late
#            fusions do not collapse)
# Usage: bash benchmarks/long_recipe.sh VARIANT SEED [OUT_DIR]   (OUT_DIR default runs/long)
# Writes OUT_DIR/VARIANT-sSEED-{phase1,stage1,stage1-half,stage2,stage2-half}.pt and appends the
# training log to OUT_DIR/VARIANT-sSEED.log. Resumable: re-running continues each stage from its
# checkpoint (--resume) and skips finished ones (.done markers).
# Environment: TRAIN (default data/train), VAL (data/val), FRAME_STEP (5: the recipe reads every 5th
# frame; 1 for a copy that holds only those frames), PYTHON (python), MODEL_ARGS (extra model settings
# for phase 1, e.g. a smaller trunk for a quick check), EXTRA_ARGS (extra arguments for every stage,
# e.g. --device or a smaller batch), STAGE2_MINING (batch-hard: the shipped recipe's stage-2 mining).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash benchmarks/long_recipe.sh VARIANT SEED [OUT_DIR]" >&2
  exit 2
fi
variant=$1
seed=$2
out=${3:-runs/long}
python=${PYTHON:-python}
run="$out/$variant-s$seed"
log="$run.log"
mkdir -p "$out"
common=(--data "${TRAIN:-data/train}" --val-data "${VAL:-data/val}" --frame-step "${FRAME_STEP:-5}"
        --seed "$seed" --quiet)
# shellcheck disable=SC2206  # EXTRA_ARGS is a list of arguments
common+=(${EXTRA_ARGS:-})

step() {  # step NAME COMMAND...: run COMMAND once, marking NAME done when it succeeds
  local name=$1
  shift
  if [ -f "$run-$name.done" ]; then return 0; fi
  echo "== $variant seed $seed: $name" >> "$log"
  "$@" >> "$log" 2>&1
  touch "$run-$name.done"
}

# shellcheck disable=SC2086  # MODEL_ARGS is a list of arguments
step phase1 "$python" -m reid.train "${common[@]}" --variant "$variant" --out "$run-phase1.pt" --epochs 12 \
  --stop-after-epoch 5 --resume ${MODEL_ARGS:-}
if [ ! -f "$run-stage1.pt" ]; then
  cp "$run-phase1.pt" "$run-stage1.pt.tmp"
  mv "$run-stage1.pt.tmp" "$run-stage1.pt"
fi
step stage1 "$python" -m reid.train "${common[@]}" --out "$run-stage1.pt" --resume --mining batch-hard --epochs 10
step stage1-half "$python" -c "import sys; from reid.checkpoint import export_half; export_half(*sys.argv[1:])" \
  "$run-stage1.pt" "$run-stage1-half.pt"
step stage2 "$python" -m reid.train "${common[@]}" --init-from "$run-stage1-half.pt" --out "$run-stage2.pt" \
  --resume --photometric-augment 0.5 --mining "${STAGE2_MINING:-batch-hard}" --lr 5e-5 --warmup-steps 50 --epochs 5
step stage2-half "$python" -c "import sys; from reid.checkpoint import export_half; export_half(*sys.argv[1:])" \
  "$run-stage2.pt" "$run-stage2-half.pt"
echo "$run-stage2-half.pt"
