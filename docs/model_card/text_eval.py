"""Text prompts on held-out COCO photos, next to a box and one click on the same objects.

    OMP_NUM_THREADS=1 PYTHONPATH=src python docs/model_card/text_eval.py --data ../shared/data/coco \
        --out eval/text_prompts [--checkpoint FILE.safetensors]

Objects: for every held-out photo (hash split, val_fraction 0.15, split_seed 0: the photos no
training stage saw) and every category in it, the largest non-crowd instance of at least
--min-area px, which is also the text path's training target (docs/text-prompts.md). Per object:
- text: the category name alone, 3 masks, the one with the highest predicted IoU (what
  `samkit segment --text` writes); "text, best of 3": the best of the three by true IoU (an oracle);
- text, wrong name: another category name of the vocabulary (seeded), scored against the same
  object: how much of the text result the name itself explains, rather than image saliency;
- box: the object's GT box, one mask (the model card's box protocol);
- 1 click: at the object's interior point farthest from its boundary, 3 masks, the highest
  predicted IoU (the model card's first click).
Writes OUT/results.json and OUT/table.md, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from samkit.build import load_model
from samkit.data.coco import decode_segmentation
from samkit.evaluation.click_oracle import first_click
from samkit.evaluation.metrics import mask_iou
from samkit.image_io import load_image
from samkit.inference.predictor import SamPredictor
from samkit.training.text_data import category_objects

ROWS = ("text", "text, best of 3", "text, wrong name", "box", "1 click")


def evaluate(args) -> dict:
    model = load_model(checkpoint=args.checkpoint)
    names = set(model.text_encoder.tokenizer.phrases)
    photos, _ = category_objects(Path(args.data) / "annotations" / "instances_train2017.json", "val",
                                 args.val_fraction, args.split_seed, args.min_area)
    vocab = sorted(names)
    rng = random.Random(0)
    pred = SamPredictor(model)
    ious = {r: [] for r in ROWS}
    per_object, skipped = [], []
    for photo in photos:
        image = load_image(Path(args.data) / "images" / "train2017" / photo["file_name"])
        pred.set_image(image)
        h, w = photo["hw"]
        for name, seg in photo["objects"].items():
            if name not in names:
                skipped.append(name)
                continue
            gt = decode_segmentation(seg, h, w)
            ys, xs = np.nonzero(gt)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
            t = pred.segment(text=name)
            wrong = rng.choice([n for n in vocab if n != name])
            tw = pred.segment(text=wrong)
            b = pred.segment(box=box, multimask_output=False)
            c = first_click(gt)
            k = pred.segment(point_coords=[[c.x, c.y]], point_labels=[1])
            row = {
                "text": mask_iou(t.masks[t.best()], gt),
                "text, best of 3": max(mask_iou(m, gt) for m in t.masks),
                "text, wrong name": mask_iou(tw.masks[tw.best()], gt),
                "box": mask_iou(b.masks[0], gt),
                "1 click": mask_iou(k.masks[k.best()], gt),
            }
            for r in ROWS:
                ious[r].append(row[r])
            per_object.append({"file": photo["file_name"], "category": name, "wrong_name": wrong,
                               "area_px": int(gt.sum()), **{r: round(v, 4) for r, v in row.items()}})
    return {"checkpoint": args.checkpoint or "builtin", "photos": len(photos), "objects": len(per_object),
            "categories": len({o["category"] for o in per_object}), "skipped_out_of_vocabulary": sorted(set(skipped)),
            "miou": {r: round(float(np.mean(v)), 4) if v else None for r, v in ious.items()},
            "split": f"val side, val_fraction {args.val_fraction}, split_seed {args.split_seed}",
            "per_object": per_object}


SIZES = (("all", 0, float("inf")), ("large (>= 96^2 px)", 96**2, float("inf")), ("medium", 32**2, 96**2),
         ("small (< 32^2 px)", 0, 32**2))


def table(res: dict) -> str:
    """Markdown: one row per prompt, one column per object size (COCO's buckets, in original pixels)."""
    objs = res["per_object"]
    groups = [(name, [o for o in objs if lo <= o["area_px"] < hi]) for name, lo, hi in SIZES]
    lines = [f"Held-out COCO photos: {res['photos']} photos, {res['objects']} objects (the largest instance of "
             f"each category in a photo), {res['categories']} categories.", "",
             "| prompt | " + " | ".join(f"{n} ({len(g)})" for n, g in groups) + " |",
             "| --- |" + " --- |" * len(groups)]
    for r in ROWS:
        cells = [f"{np.mean([o[r] for o in g]):.3f}" if g else "-" for _, g in groups]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", default=None, help="default: the built-in model")
    p.add_argument("--out", required=True)
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--min-area", type=float, default=100.0)
    args = p.parse_args(argv)
    res = evaluate(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1))
    (out / "table.md").write_text(table(res))
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
