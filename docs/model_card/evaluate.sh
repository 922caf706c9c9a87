#!/usr/bin/env bash
# The model card's numbers (docs/model-card.md): samkit's built-in model, the from-scratch ablation
# and GrabCut, evaluated with `samkit eval` on the images training held out (hash split,
# val_fraction 0.15, split_seed 0: the split of docs/training/default_model_*.toml).
#
# Usage, from the repository root, after the runs of docs/model-card.md ("Recipe"):
#   bash docs/model_card/evaluate.sh [OUT_DIR=eval/model_card]
# then  python docs/model_card/make_card.py OUT_DIR   (tables + curves for the card).
set -euo pipefail
OUT=${1:-eval/model_card}
DATA=${SAMKIT_DATA:-../shared/data}
SCRATCH=${SCRATCH_CKPT:-runs/ablation_scratch/checkpoints/$(cat runs/ablation_scratch/checkpoints/latest)/model.safetensors}
MODELS=(--model "samkit built-in=builtin" --model "from scratch=$SCRATCH" --model grabcut)
SPLIT=(--split val --val-fraction 0.15 --split-seed 0)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

run() {  # run NAME ARGS...: one evaluation into $OUT/NAME (kept if already complete)
  local name=$1; shift
  if [[ -n "${JOBS:-}" && " $JOBS " != *" $name "* ]]; then return; fi  # JOBS="a b": run only those
  if [[ -f "$OUT/$name/results.json" ]]; then echo "kept $OUT/$name"; return; fi
  "${PYTHON:-python}" -m samkit eval "${MODELS[@]}" "${SPLIT[@]}" --out "$OUT/$name" "$@"
}
# Photos: the 40 held-out COCO photos, their 5 largest objects each (things)
run coco_clicks --data "$DATA/coco" --protocol clicks --max-objects 5 --min-area 100
run coco_box    --data "$DATA/coco" --protocol box --max-objects 5 --min-area 100
# Stuff (sky, road, wall...) and things of the held-out photos that have panoptic labels
run panoptic_clicks --data "$DATA/coco/panoptic/panoptic_train2017.json" --protocol clicks --max-objects 5 --min-area 100
# Video frames: the held-out DAVIS sequence (every 5th frame, as trained)
run davis_clicks --data "$DATA/davis2016" --protocol clicks --frame-stride 5
# Microscopy: held-out nuclei (DSB 2018) and EM cells (ISBI 2012)
run dsb_clicks  --data "$DATA/microscopy/dsb2018_murphy_nuclei/train" --protocol clicks --max-objects 10
run isbi_clicks --data "$DATA/microscopy/isbi2012_em_membrane" --protocol clicks --max-objects 10 --min-area 100
