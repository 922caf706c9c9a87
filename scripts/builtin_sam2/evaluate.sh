#!/usr/bin/env bash
# The built-in SAM 2 candidate (sam2_cpu) next to the SAM 1 built-in model, with `samkit eval` on the
# images and sequences training held out (hash split, val_fraction 0.15, split_seed 0), as
# docs/model_card/evaluate.sh does for SAM 1. The goals of issue 15 are read off these tables:
#   davis_video: "<sam2> video, first-frame mask" J&F >= "copy first mask" + 0.10 and > "samkit built-in"
#   coco_clicks (mIoU@1) and coco_box: sam2 >= samkit built-in.
# Usage, from the repository root:
#   SAM2_CKPT=/work/builtin_sam2/init/model.safetensors bash scripts/builtin_sam2/evaluate.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-eval/builtin_sam2}
DATA=${SAMKIT_DATA:-../shared/data}
SAM2=${SAM2_CKPT:?set SAM2_CKPT to the sam2_cpu checkpoint}
LABEL=${SAM2_LABEL:-sam2_cpu}
MODELS=(--model "$LABEL=$SAM2" --model "samkit built-in=builtin")
SPLIT=(--split val --val-fraction 0.15 --split-seed 0)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

run() {  # run NAME ARGS...: one evaluation into $OUT/NAME (kept if already complete)
  local name=$1; shift
  if [[ -n "${JOBS:-}" && " $JOBS " != *" $name "* ]]; then return; fi  # JOBS="a b": run only those
  if [[ -f "$OUT/$name/results.json" ]]; then echo "kept $OUT/$name"; return; fi
  "${PYTHON:-python}" -m samkit eval "${MODELS[@]}" "${SPLIT[@]}" --out "$OUT/$name" "$@"
}
run coco_clicks --data "$DATA/coco" --protocol clicks --max-objects 5 --min-area 100
run coco_box    --data "$DATA/coco" --protocol box --max-objects 5 --min-area 100
# Held-out DAVIS sequences: SAM2VideoPredictor from the first-frame GT mask, beside copying that mask
# and each model's image predictor frame by frame (prompted with the previous mask's box).
run davis_video --data "$DATA/davis2016" --protocol video --video-prompts mask,clicks1,box
run davis_clicks --data "$DATA/davis2016" --protocol clicks --frame-stride 5
