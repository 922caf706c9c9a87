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


def collect(model, data: Path, split: str, random_clicks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N x C IoU-token features, N x 4 true IoUs) over the split's objects and clicks."""
    pred, dec, pe = image_predictor(model), model.mask_decoder, model.prompt_encoder
    captured = {}
    dec.iou_prediction_head.register_forward_hook(lambda m, i, o: captured.update(x=i[0].detach()))

    def decode_all(points, labels):  # the decoder's 4 outputs, through its own module (not the fused path)
        sparse, dense = pe(points=(points, labels), boxes=None, masks=None)
        masks, _ = dec.predict_masks(pred.features, pe.get_dense_pe(), sparse, dense)
        return masks

    images = read_coco_images(data / "annotations" / "instances_train2017.json", data / "images" / "train2017",
                              None, 0, 100, 8 if split == "train" else 5, split=split, val_fraction=0.15, split_seed=0)
    rng, feats, ious = np.random.default_rng(0), [], []
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
                    low = decode_all(torch.as_tensor(pts)[None], torch.ones(1, 1, dtype=torch.int64))
                    masks = pred.model.postprocess_masks(low, pred.input_size, pred.original_size)[0] > 0
                m = masks.numpy()
                ious.append((m & gt).reshape(4, -1).sum(1) / np.maximum((m | gt).reshape(4, -1).sum(1), 1))
                feats.append(captured["x"][0].clone())
    return torch.stack(feats), torch.tensor(np.array(ious), dtype=torch.float32)


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
    args = ap.parse_args()
    torch.manual_seed(0)
    model = load_checkpoint(args.checkpoint).eval()
    sides = {"train": collect(model, args.data, "train", 3), "val": collect(model, args.data, "val", 0)}
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
