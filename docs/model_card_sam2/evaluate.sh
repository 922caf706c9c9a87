#!/usr/bin/env bash
# The SAM 2 model card's numbers (docs/model-card-sam2.md): samkit's built-in SAM 2 next to the
# built-in SAM 1 model and the baselines, with `samkit eval` on what training held out (hash split,
# val_fraction 0.15, split_seed 0: the split of docs/model_card_sam2/train.toml and of SAM 1's card).
#
# Usage, from the repository root:
#   bash docs/model_card_sam2/evaluate.sh [OUT_DIR=eval/model_card_sam2] [SAM2_CHECKPOINT]
# SAM2_CHECKPOINT defaults to the packaged built-in SAM 2 (`--model sam2`).
set -euo pipefail
OUT=${1:-eval/model_card_sam2}
SAM2=${2:-sam2}
DATA=${SAMKIT_DATA:-../shared/data}
SPLIT=(--split val --val-fraction 0.15 --split-seed 0)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

run() {  # run NAME ARGS...: one evaluation into $OUT/NAME (kept if already complete)
  local name=$1; shift
  if [[ -f "$OUT/$name/results.json" ]]; then echo "kept $OUT/$name"; return; fi
  "${PYTHON:-python}" -m samkit eval "${SPLIT[@]}" --out "$OUT/$name" "$@"
}
# (GrabCut's numbers on the same objects are in SAM 1's card, docs/model-card.md.)
IMAGE_MODELS=(--model "samkit built-in SAM 2=$SAM2" --model "samkit built-in SAM 1=builtin")
# Photos: the 40 held-out COCO photos, their 5 largest objects each: 1/3/5 clicks and a box
run coco_clicks "${IMAGE_MODELS[@]}" --data "$DATA/coco" --protocol clicks --max-objects 5 --min-area 100 --max-clicks 10
run coco_box    "${IMAGE_MODELS[@]}" --data "$DATA/coco" --protocol box --max-objects 5 --min-area 100
# Video: the held-out DAVIS sequence, every frame. Rows: the first-frame-mask copy baseline, SAM 1's
# built-in applied frame by frame (the previous mask's box as its prompt), SAM 2's built-in
# frame by frame the same way, and SAM 2's video predictor from a frame-0 mask / clicks / box.
run davis_video --model "samkit built-in SAM 2=$SAM2" --model "samkit built-in SAM 1=builtin" \
    --data "$DATA/davis2016" --protocol video --video-prompts mask,clicks1,clicks3,box
