#!/usr/bin/env bash
# Same-budget ablation of the re-ID variants: every variant, every seed, the same data and the same
# schedule (batch-all triplet loss, EPOCHS epochs of 137 steps of 16 instances x 4 views).
# Resumable: re-running the script continues each run from its checkpoint (--resume) and skips
# finished ones. Usage: bash benchmarks/ablation.sh [OUT_DIR] [EPOCHS] [SEEDS...]
# (VARIANTS="full early-fusion concat concat-full" by default). A run killed mid-way leaves DIR/<run>.pt.lock:
# remove it before resuming.
# Needs data/train (seed 1000) and data/val (seed 2000), made by the commands in README.
set -euo pipefail
out=${1:-runs/ablation}
epochs=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
seeds=${*:-0 1 2}
variants=${VARIANTS:-full early-fusion concat concat-full}
mkdir -p "$out"
held=""  # the lock this copy holds, if any: released on exit, never another copy's
trap 'if [ -n "$held" ]; then rmdir "$held" 2>/dev/null || true; fi' EXIT
for seed in $seeds; do
  for variant in $variants; do
    ckpt="$out/$variant-s$seed.pt"
    if [ -f "$ckpt.done" ]; then continue; fi
    # several copies may run side by side (e.g. one per seed, OMP_NUM_THREADS=1 each): a run in progress
    # holds a lock folder and is skipped by the others
    mkdir "$ckpt.lock" 2>/dev/null || { echo "skipping $ckpt: in progress elsewhere"; continue; }
    held="$ckpt.lock"
    python -m reid.train --data data/train --val-data data/val --variant "$variant" --out "$ckpt" \
      --epochs "$epochs" --seed "$seed" --resume --quiet >> "$out/$variant-s$seed.log" 2>&1
    touch "$ckpt.done"
    rmdir "$ckpt.lock"
    held=""
  done
done
