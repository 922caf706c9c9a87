"""Is a from-scratch SAM run on the "empty-mask plateau" learning anything? (docs/training.md)

Thresholded at logit 0, a model on the plateau predicts nothing and every IoU reads 0, which hides
whether its logits already rank the object's pixels above the rest. This probe measures that
ranking for one click at each held-out object's deepest pixel (the eval protocol's first click),
on every checkpoint of the given runs:
- AUC: the chance that a pixel of the object gets a higher logit than a pixel outside it (0.5 =
  no localisation), of the best of the 3 outputs;
- IoU at the best threshold (the oracle output and its own best threshold): how good the mask
  would be if only the threshold were wrong;
- IoU at logit 0 (the oracle output), what `samkit eval` sees;
- p(object) / p(rest): mean sigmoid inside and outside the object: where the model puts its
  probabilities (with focal alpha 0.25 the optimum for an uncertain pixel sits far below 0.5).

Usage (from the repository root, ../shared/data beside it):
  OMP_NUM_THREADS=1 PYTHONPATH=src python docs/training/plateau_probe.py runs/focal_study/paper_loss_r4 ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from samkit import SamPredictor, load_model
from samkit.evaluation.click_oracle import first_click
from samkit.evaluation.coco_instances import read_coco_images
from samkit.training.validation import ranking_auc


def ranking_stats(logits: np.ndarray, gt: np.ndarray) -> dict:
    """AUC, best-threshold IoU, IoU at 0 and mean p inside / outside for H x W logits and a bool GT."""
    x, t = logits.ravel().astype(np.float64), gt.ravel()
    n_pos = int(t.sum())
    auc = float(ranking_auc(torch.from_numpy(logits[None]), torch.from_numpy(gt[None]))[0])
    order = np.argsort(-x, kind="stable")
    tp = np.cumsum(t[order])
    k = np.arange(1, len(x) + 1)
    best_iou = float((tp / (n_pos + k - tp)).max())
    pred = x > 0
    iou0 = float((pred & t).sum() / max((pred | t).sum(), 1))
    p = 1 / (1 + np.exp(-x))
    return {"auc": auc, "best_iou": best_iou, "iou0": iou0, "p_in": float(p[t].mean()),
            "p_out": float(p[~t].mean())}


def probe(checkpoint: Path, images, stride: int = 4) -> dict:
    """Mean stats over the held-out objects; each object's numbers from its best output (by AUC
    for AUC and the p's, by best IoU for best_iou, by IoU at 0 for iou0)."""
    predictor = SamPredictor(load_model(checkpoint=checkpoint))
    rows = []
    for image in images:
        predictor.set_image(image.load())
        for obj in image.objects:
            gt = obj.mask()
            if obj.ignore or not gt.any():
                continue
            c = first_click(gt)
            logits, _, _ = predictor.predict(point_coords=np.array([[c.x, c.y]], np.float32),
                                             point_labels=np.array([1]), multimask_output=True,
                                             return_logits=True)
            g = gt[::stride, ::stride]
            if not g.any():
                continue
            stats = [ranking_stats(np.asarray(m)[::stride, ::stride], g) for m in logits]
            by_auc = max(stats, key=lambda s: s["auc"])
            rows.append({"auc": by_auc["auc"], "p_in": by_auc["p_in"], "p_out": by_auc["p_out"],
                         "best_iou": max(s["best_iou"] for s in stats), "iou0": max(s["iou0"] for s in stats)})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} | {"objects": len(rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run directories (their checkpoints/step_*)")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/coco"))
    ap.add_argument("--max-images", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the numbers")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    images = read_coco_images(args.data / "annotations" / "instances_train2017.json",
                              args.data / "images" / "train2017", args.max_images, 0, 100.0, 5,
                              split="val", val_fraction=0.15, split_seed=0)
    results = {}
    print("| run | step | objects | AUC | IoU, best threshold | IoU at logit 0 | p(object) | p(rest) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in args.runs:
        for ckpt in sorted((run / "checkpoints").glob("step_*/model.safetensors")):
            step = int(ckpt.parent.name.split("_")[1])
            r = probe(ckpt, images)
            results[f"{run.name}/{step}"] = r
            print(f"| {run.name} | {step} | {r['objects']} | {r['auc']:.3f} | {r['best_iou']:.3f} | "
                  f"{r['iou0']:.3f} | {r['p_in']:.3f} | {r['p_out']:.3f} |", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
