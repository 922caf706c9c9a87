#!/usr/bin/env bash
# SAM 2 fine-tuning demo, end to end (docs/training.md, "SAM 2"): the built-in SAM 2 model
# (sam2_cpu) on ISBI-2012 serial-section EM, a domain its own training leaves out, as a LabPics
# dataset (Test = the 2 slices every built-in model held out, Train = 24 others).
#   1. make the LabPics folder (scripts/finetune_demo/make_labpics.py), unless it exists;
#   2. `samkit eval` the model as it is on every Test cell: 1..5 oracle clicks, GT / noisy boxes;
#   3. `samkit finetune --format labpics` on Train (validating on Test into metrics.jsonl);
#   4. `samkit eval` every checkpoint on the same cells (the last one next to the first model),
#      and both models on the 30 largest cells of each Test slice;
#   5. curves, before/after overlays (docs/img/sam2_finetune_*.png) and the tables (OUT/table.md).
# Every step keeps what an earlier call finished (a stopped run resumes: --resume auto), so
# rerunning the script only does what is missing. From the repository root:
#   SAM2_CKPT=/work/builtin_sam2/final/model.safetensors bash scripts/finetune_demo/run.sh [OUT]
set -euo pipefail
OUT=${1:-/work/finetune_demo/demo}
CKPT=${SAM2_CKPT:?set SAM2_CKPT to the built-in SAM 2 model (.safetensors)}
DATA=${LABPICS_DIR:-/work/finetune_demo/labpics_isbi2012}
CONFIG=${CONFIG:-docs/training/sam2_finetune.toml}
IMG_PREFIX=${IMG_PREFIX:-docs/img/sam2_finetune}
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# The held-out objects: every cell of >= 100 px on a Test slice; and the 30 largest of each slice.
ALL_CELLS=(--data "$DATA/Simple/Test" --min-area 100)
LARGEST=(--data "$DATA/Simple/Test" --min-area 100 --max-objects 30)
mkdir -p "$OUT"

[[ -d "$DATA/Simple" ]] || "$PY" scripts/finetune_demo/make_labpics.py --out "$DATA"

evaluate() {  # evaluate NAME PROTOCOL ARGS...: one `samkit eval` into $OUT/NAME, kept once complete
  local name=$1 protocol=$2; shift 2
  if [[ -f "$OUT/$name/results.json" ]]; then echo "kept $OUT/$name"; return; fi
  local extra=()
  [[ $protocol == clicks ]] && extra=(--max-clicks 5)
  "$PY" -m samkit eval --protocol "$protocol" "${extra[@]}" --out "$OUT/$name" --overwrite "$@"
}

# 2. before
evaluate before_clicks clicks --model "before=$CKPT" "${ALL_CELLS[@]}"
evaluate before_box box --model "before=$CKPT" "${ALL_CELLS[@]}"

# 3. fine-tune (LabPics root: trains on Train, validates on Test)
RUN="$OUT/run"
if [[ ! -f "$RUN/summary.json" ]]; then
  resume=()
  [[ -f "$RUN/checkpoints/latest" ]] && resume=(--resume auto)
  "$PY" -m samkit finetune --config "$CONFIG" --checkpoint "$CKPT" --data "$DATA" --format labpics \
      --run.run-dir "$RUN" --no-run.progress "${resume[@]}" | tee "$RUN.log"
  tail -n 1 "$RUN.log" > "$RUN/summary.json"
fi
LAST=$(cat "$RUN/checkpoints/latest")
AFTER="$RUN/checkpoints/$LAST/model.safetensors"

# 4. after: every checkpoint (the curves), the last one with the "before" rows included
for folder in "$RUN"/checkpoints/step_*; do
  step=$(basename "$folder")
  [[ $step == "$LAST" ]] && continue
  evaluate "curve/${step}_clicks" clicks --model "$step=$folder/model.safetensors" "${ALL_CELLS[@]}"
  evaluate "curve/${step}_box" box --model "$step=$folder/model.safetensors" "${ALL_CELLS[@]}"
done
evaluate after_clicks clicks --model "after=$AFTER" "${ALL_CELLS[@]}" --include "$OUT/before_clicks/results.json"
evaluate after_box box --model "after=$AFTER" "${ALL_CELLS[@]}" --include "$OUT/before_box/results.json"
evaluate largest_clicks clicks --model "before=$CKPT" --model "after=$AFTER" "${LARGEST[@]}"
evaluate largest_box box --model "before=$CKPT" --model "after=$AFTER" "${LARGEST[@]}"

# 5. pictures and tables
"$PY" scripts/finetune_demo/report.py --run "$RUN" --clicks "$OUT/after_clicks" --box "$OUT/after_box" \
    --curve "$OUT/curve" --second-clicks "$OUT/largest_clicks" --second-box "$OUT/largest_box" \
    --before "$CKPT" --after "$AFTER" --data "$DATA/Simple/Test" --img-prefix "$IMG_PREFIX"
