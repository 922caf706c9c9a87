#!/usr/bin/env bash
# The model card's numbers (docs/model-card.md): samkit's built-in model (v3), the two before it (v2
# and v1, taken from git history) and GrabCut, evaluated with `samkit eval` on the images training
# held out (hash split, val_fraction 0.15, split_seed 0: the split of docs/training/default_model_*.toml).
#
# Usage, from the repository root, after the runs of docs/model-card.md ("Recipe"):
#   SAMKIT_DATA_CACHE=/work/cache/data/v2 bash docs/model_card/evaluate.sh [OUT_DIR=eval/model_card]
# then  python docs/model_card/make_card.py OUT_DIR [MORE_DIRS]   (tables + curves for the card).
# The card's numbers: WHICH=baselines into eval/v3_base, WHICH=candidate CANDIDATE_CKPT=<checkpoint>
# into eval/v3_candidate (CANDIDATE_NAME labels it), merged by make_card.py.
set -euo pipefail
OUT=${1:-eval/model_card}
DATA=${SAMKIT_DATA:-../shared/data}
CANDIDATE=${CANDIDATE_CKPT:-builtin}  # a trained checkpoint to judge before it is packaged, or the packaged one
CANDIDATE_NAME=${CANDIDATE_NAME:-samkit built-in v3}
V2=${V2_CKPT:-runs/builtin_v2/samkit_default.safetensors}
V1=${V1_CKPT:-runs/builtin_v1/samkit_default.safetensors}
from_git() {  # from_git COMMIT FILE: the built-in weights as they shipped at COMMIT
  if [[ ! -f "$2" ]]; then mkdir -p "$(dirname "$2")"; git show "$1:src/samkit/weights/samkit_default.safetensors" > "$2"; fi
}
from_git 1adaf0b "$V2"  # the last commit before v3
from_git 2892679 "$V1"  # the last commit before v2
# WHICH=candidate / baselines splits the models across two runs (two cores, or the slow GrabCut
# started early); make_card.py merges the folders.
case "${WHICH:-all}" in
  all) MODELS=(--model "$CANDIDATE_NAME=$CANDIDATE" --model "built-in v2=$V2" --model "built-in v1=$V1" --model grabcut) ;;
  candidate) MODELS=(--model "$CANDIDATE_NAME=$CANDIDATE") ;;
  baselines) MODELS=(--model "built-in v2=$V2" --model "built-in v1=$V1" --model grabcut) ;;
  *) echo "WHICH must be all, candidate or baselines" >&2; exit 2 ;;
esac
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
# The new sources of v2 (scripts/prepare_extra_data.py into $SAMKIT_DATA_CACHE): their held-out sides
CACHE=${SAMKIT_DATA_CACHE:-}
if [[ -n "$CACHE" ]]; then
  run ccp_clicks --data "$CACHE/ccp" --protocol clicks --max-objects 5 --min-area 100 --max-images 40
  run dsb2018_clicks --data "$CACHE/dsb2018" --protocol clicks --max-objects 10 --max-images 30
fi
