#!/usr/bin/env bash
# SAM 2 fine-tuning demo, end to end (docs/training.md, "SAM 2"): the built-in SAM 2 model
# (sam2_cpu) on a domain held out of its training, ISBI-2012 serial-section EM, as a LabPics
# dataset (Train = slices 0-19, Test = slices 20-29).
#   1. make the LabPics folder (scripts/finetune_demo/make_labpics.py), unless it exists;
#   2. `samkit eval` the model as it is on Test: 1..5 oracle clicks, and GT / noisy boxes;
#   3. `samkit finetune --format labpics` on Train (validating on Test into metrics.jsonl);
#   4. `samkit eval` the fine-tuned model on the same objects, next to the first model (--include);
#   5. curves, before/after overlays (docs/img/sam2_finetune_*.png) and the table (OUT/table.md).
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
# The held-out objects: every cell of a Test slice of >= 100 px, the 30 largest per slice.
EVAL_SET=(--data "$DATA/Simple/Test" --max-objects 30 --min-area 100)
mkdir -p "$OUT"

[[ -d "$DATA/Simple" ]] || "$PY" scripts/finetune_demo/make_labpics.py --out "$DATA"

evaluate() {  # evaluate LABEL MODEL PROTOCOL NAME [ARGS...]: one `samkit eval` into $OUT/NAME, kept once complete
  local label=$1 model=$2 protocol=$3 name=$4; shift 4
  if [[ -f "$OUT/$name/results.json" ]]; then echo "kept $OUT/$name"; return; fi
  local extra=()
  [[ $protocol == clicks ]] && extra=(--max-clicks 5)
  "$PY" -m samkit eval --model "$label=$model" --protocol "$protocol" "${EVAL_SET[@]}" "${extra[@]}" \
      --out "$OUT/$name" --overwrite "$@"
}

# 2. before
evaluate before "$CKPT" clicks before_clicks
evaluate before "$CKPT" box before_box

# 3. fine-tune (LabPics root: trains on Train, validates on Test)
RUN="$OUT/run"
if [[ ! -f "$RUN/summary.json" ]]; then
  resume=()
  [[ -f "$RUN/checkpoints/latest" ]] && resume=(--resume auto)
  "$PY" -m samkit finetune --config "$CONFIG" --checkpoint "$CKPT" --data "$DATA" --format labpics \
      --run.run-dir "$RUN" --no-run.progress "${resume[@]}" | tee "$RUN.log"
  tail -n 1 "$RUN.log" > "$RUN/summary.json"
fi
AFTER="$RUN/checkpoints/$(cat "$RUN/checkpoints/latest")/model.safetensors"

# 4. after, on the same objects, with the "before" rows included
evaluate after "$AFTER" clicks after_clicks --include "$OUT/before_clicks/results.json"
evaluate after "$AFTER" box after_box --include "$OUT/before_box/results.json"

# 5. pictures and table
"$PY" scripts/finetune_demo/report.py --run "$RUN" --clicks "$OUT/after_clicks" --box "$OUT/after_box" \
    --before "$CKPT" --after "$AFTER" --data "$DATA/Simple/Test" --img-prefix "$IMG_PREFIX"
