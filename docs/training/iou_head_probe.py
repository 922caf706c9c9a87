"""Can the IoU head of a trained checkpoint rank its three first-click masks, and can refitting it help?

Usage (repository root; docs/model-card.md, "Why one click is weak", has the numbers):
    OMP_NUM_THREADS=1 python docs/training/iou_head_probe.py CHECKPOINT [--data ../shared/data/coco]

For every object of the COCO hash split (val_fraction 0.15, split_seed 0; train side: up to 8 objects a
photo, the most interior point plus 3 random interior points; held-out side: the most interior point),
one click gives the decoder's 4 masks (the single-mask output and the 3 ambiguity-aware ones). The
probe records the IoU head's input (the IoU token after the two-way transformer) and the true IoU of
each mask, then reports on both sides:
- mIoU@1 when the mask is picked by the head's score, by the best true IoU (oracle) and by each fixed
  output, and how often the head's pick is the best mask (chance: 1/3);
- the same after refitting only the IoU head (its MLP, 3000 AdamW steps on the train side's
  features, everything else frozen so the masks cannot change), every 1000 steps.
If the refit head ranks well on the train side but not on the held-out side, the IoU token's features
do not carry a mask's quality in a way that generalises: the head's weights are not what is missing.

With --mask-features it also fits a score that sees the masks (what a mask-aware head could learn):
a least-squares fit, on the train side only, of which of a click's three masks is better (true IoU
relative to the click's mean) from each mask's own statistics (the head's score, the stability score,
the log area fraction, the mean sigmoid inside the mask, the share of the image border it touches,
the click's distance to its centroid, the output's index), and reports the pick by that score on
both sides.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch

from samkit.build import load_checkpoint
from samkit.evaluation.click_oracle import first_click
from samkit.evaluation.coco_instances import read_coco_images
from samkit.inference.model_family import image_predictor


def mask_statistics(logits: torch.Tensor, scores: torch.Tensor, x: float, y: float) -> np.ndarray:
    """4 x 7 statistics of the decoder's 4 masks (logits 4 x H x W at image size, scores 4): the head's
    score, stability (area above +1 / above -1), log area fraction, mean sigmoid inside, border share,
    click-to-centroid distance (in image diagonals), output index / 3."""
    h, w = logits.shape[-2:]
    m = logits > 0
    area = m.flatten(1).sum(1).clamp(min=1).float()
    stability = (logits > 1).flatten(1).sum(1) / (logits > -1).flatten(1).sum(1).clamp(min=1)
    inside = (torch.sigmoid(logits) * m).flatten(1).sum(1) / area
    border = torch.cat([m[:, 0], m[:, -1], m[:, :, 0], m[:, :, -1]], 1).float().mean(1)
    # centroid from the row and column sums: no H x W coordinate grid per click
    cy = (m.sum(2).float() * torch.arange(h, dtype=torch.float32)).sum(1) / area
    cx = (m.sum(1).float() * torch.arange(w, dtype=torch.float32)).sum(1) / area
    dist = torch.hypot(cx - x, cy - y) / float(np.hypot(h, w))
    stats = [scores, stability, torch.log(area / (h * w)), inside, border, dist, torch.arange(4) / 3.0]
    return torch.stack([s.float() for s in stats], 1).numpy()


def collect(model, data: Path, split: str, random_clicks: int,
            with_stats: bool = False) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N x C IoU-token features, N x 4 true IoUs[, N x 4 x 7 mask statistics]) over the split's objects
    and clicks."""
    pred, dec, pe = image_predictor(model), model.mask_decoder, model.prompt_encoder
    captured = {}
    hook = dec.iou_prediction_head.register_forward_hook(lambda m, i, o: captured.update(x=i[0].detach()))

    def decode_all(points, labels):  # the decoder's 4 outputs, through its own module (not the fused path)
        sparse, dense = pe(points=(points, labels), boxes=None, masks=None)
        return dec.predict_masks(pred.features, pe.get_dense_pe(), sparse, dense)

    images = read_coco_images(data / "annotations" / "instances_train2017.json", data / "images" / "train2017",
                              None, 0, 100, 8 if split == "train" else 5, split=split, val_fraction=0.15, split_seed=0)
    rng, feats, ious, stats = np.random.default_rng(0), [], [], []
    for im in images:
        pred.set_image(im.load())
        for ob in im.objects:
            if ob.ignore:
                continue
            gt = ob.mask()
            c, (ys, xs) = first_click(gt), np.nonzero(gt)
            clicks = [(c.x, c.y)] + [(xs[j], ys[j]) for j in rng.integers(len(xs), size=random_clicks)]
            for x, y in clicks:
                pts = pred.transform.apply_coords(np.array([[x, y]], np.float32), pred.original_size)
                with torch.no_grad():
                    low, scores = decode_all(torch.as_tensor(pts)[None], torch.ones(1, 1, dtype=torch.int64))
                    logits = pred.model.postprocess_masks(low, pred.input_size, pred.original_size)[0]
                m = (logits > 0).numpy()
                if with_stats:
                    stats.append(mask_statistics(logits, scores[0], x, y))
                ious.append((m & gt).reshape(4, -1).sum(1) / np.maximum((m | gt).reshape(4, -1).sum(1), 1))
                feats.append(captured["x"][0].clone())
    hook.remove()  # else each call (one per side) stacks another hook on the head, and deep copies carry them
    out = (torch.stack(feats), torch.tensor(np.array(ious), dtype=torch.float32))
    return (*out, torch.tensor(np.array(stats))) if with_stats else out


def fit_mask_aware_score(stats: torch.Tensor, ious: torch.Tensor) -> torch.Tensor:
    """Least-squares weights (7 statistics + bias) for ranking the 3 multimask outputs of a click: fit on
    statistics and true IoUs taken relative to the click's own mean (N x 3 x 7, N x 3), so the score
    learns which of a click's masks is better, not how hard the click is. The bias is 0 (it cancels)."""
    x, y = stats[:, 1:], ious[:, 1:]
    x, y = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    w = torch.linalg.lstsq(x.reshape(-1, x.shape[-1]).double(), y.reshape(-1, 1).double()).solution.float()
    return torch.cat([w, torch.zeros(1, 1)])


def report_mask_aware(weights: torch.Tensor, sides: dict) -> None:
    for name, (stats, y) in sides.items():
        x = torch.cat([stats, torch.ones(*stats.shape[:2], 1)], 2)
        score = (x @ weights)[..., 0][:, 1:]
        y3, rows = y[:, 1:], torch.arange(len(y))
        r = np.corrcoef(score.flatten().numpy(), y3.flatten().numpy())[0, 1]
        print(f"mask-aware {name:>5}: by score {y3[rows, score.argmax(1)].mean():.3f}  oracle {y3.max(1)[0].mean():.3f}  "
              f"picks the best {(score.argmax(1) == y3.argmax(1)).float().mean():.3f}  r {r:.3f}")


def report(head, sides: dict, tag: str) -> None:
    with torch.no_grad():
        for name, (x, y) in sides.items():
            p3, y3 = head(x)[:, 1:], y[:, 1:]
            rows = torch.arange(len(y3))
            fixed = " ".join(f"{v:.3f}" for v in y3.mean(0).tolist())
            print(f"{tag:>10} {name:>5}: by score {y3[rows, p3.argmax(1)].mean():.3f}  oracle {y3.max(1)[0].mean():.3f}  "
                  f"fixed outputs 1/2/3 {fixed}  head picks the best {(p3.argmax(1) == y3.argmax(1)).float().mean():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/coco"))
    ap.add_argument("--mask-features", action="store_true", help="also fit and report a mask-aware score")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = load_checkpoint(args.checkpoint).eval()
    got = {"train": collect(model, args.data, "train", 3, args.mask_features),
           "val": collect(model, args.data, "val", 0, args.mask_features)}
    sides = {k: v[:2] for k, v in got.items()}
    if args.mask_features:
        weights = fit_mask_aware_score(got["train"][2], got["train"][1])
        print("mask-aware weights (score, stability, log area, inside, border, distance, index, bias):",
              " ".join(f"{w:.3f}" for w in weights[:, 0].tolist()))
        report_mask_aware(weights, {k: (v[2], v[1]) for k, v in got.items()})
    print(f"clicks: train {len(sides['train'][0])}, val {len(sides['val'][0])}")
    report(model.mask_decoder.iou_prediction_head, sides, "as trained")
    head = copy.deepcopy(model.mask_decoder.iou_prediction_head).train().requires_grad_(True)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    x, y = sides["train"]
    for step in range(1, 3001):
        idx = torch.randint(len(x), (256,))
        loss = torch.nn.functional.mse_loss(head(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 1000 == 0:
            report(head, sides, f"refit {step}")


if __name__ == "__main__":
    main()
