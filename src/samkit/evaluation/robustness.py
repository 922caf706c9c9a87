"""The robustness protocol: mIoU of point and box prompts, clean and under attack, per budget.

Prompts per object: the first oracle click (multimask, highest-score mask) and the tight GT box
(single mask). Budgets are L-inf eps in [0, 1] units (1/255 ... 8/255). For each budget:
- "embedding": one prompt-agnostic perturbation per image (`attacks.embedding_attack`), then
  every prompt on it;
- "prompt": one perturbation per (object, prompt) (`attacks.prompt_attack`), for contrast: it is
  the stronger, targeted threat, and costs one PGD per object.
Needs a SAM-style predictor with `.model`, `.transform` and `set_torch_image` (gradient attacks
have no meaning for GrabCut).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from samkit.evaluation.attacks import embedding_attack, image_embedding, prompt_attack
from samkit.evaluation.click_oracle import first_click
from samkit.evaluation.eval_samples import EvalImage
from samkit.evaluation.interactive import box_from_mask
from samkit.evaluation.metrics import mask_iou

DEFAULT_BUDGETS = (1 / 255, 2 / 255, 4 / 255, 8 / 255)
PROMPTS = ("point", "box")


def supports_attacks(predictor) -> bool:
    return all(hasattr(predictor, a) for a in ("model", "transform", "set_torch_image"))


def _model_input(predictor, image: np.ndarray) -> torch.Tensor:
    resized = predictor.transform.apply_image(image)
    x = torch.as_tensor(resized, device=predictor.device).permute(2, 0, 1).contiguous()[None]
    return x.float()


def _predict(predictor, kind: str, gt: np.ndarray) -> np.ndarray:
    if kind == "point":
        c = first_click(gt)
        masks, scores, _ = predictor.predict(point_coords=np.array([[c.x, c.y]], np.float32),
                                             point_labels=np.array([1]), multimask_output=True)
        return masks[int(np.argmax(scores))]
    masks, _, _ = predictor.predict(box=box_from_mask(gt), multimask_output=False)
    return masks[0]


def _prompt_kwargs(predictor, kind: str, gt: np.ndarray, orig_hw) -> dict:
    dev = predictor.device
    if kind == "point":
        c = first_click(gt)
        coords = predictor.transform.apply_coords(np.array([[c.x, c.y]], np.float32), orig_hw)
        return {"point_coords": torch.as_tensor(coords, dtype=torch.float32, device=dev)[None],
                "point_labels": torch.ones(1, 1, dtype=torch.int64, device=dev), "multimask_output": True}
    box = predictor.transform.apply_boxes(box_from_mask(gt)[None], orig_hw)
    return {"boxes": torch.as_tensor(box, dtype=torch.float32, device=dev), "multimask_output": False}


def _distortion(model, x_clean: torch.Tensor, x_adv: torch.Tensor, eps: float, seed: int) -> dict:
    """Relative embedding change ||E(x') - E(x)|| / ||E(x)|| for the attack and, as the yardstick,
    for random +-eps sign noise of the same budget (what the attack gains over chance)."""
    g = torch.Generator().manual_seed(seed)
    sign = torch.randint(0, 2, x_clean.shape, generator=g).to(x_clean) * 2 - 1
    x_rand = (x_clean + sign * eps * 255).clamp(0, 255)
    with torch.no_grad():
        e0, ea, er = (image_embedding(model, x) for x in (x_clean, x_adv, x_rand))
    norm = e0.norm().clamp_min(1e-12)
    return {"attack": float((ea - e0).norm() / norm), "random": float((er - e0).norm() / norm)}


def evaluate_robustness(predictor, images: Sequence[EvalImage], budgets: Sequence[float] = DEFAULT_BUDGETS,
                        steps: int = 10, seed: int = 0, prompt_attack_objects: Optional[int] = None,
                        desc: str = "attack") -> tuple[list[dict], Optional[dict]]:
    """(records, example). A record per object: clean IoUs and IoUs per attack and budget (budgets
    keyed by their 1/255 multiple, e.g. "4/255"). prompt_attack_objects caps how many objects per
    image (largest first, as the readers order them) get the costly prompt-specific attack.
    `example` holds images and masks of the first object at the largest budget, for a picture.
    """
    if not supports_attacks(predictor):
        raise TypeError("the robustness protocol needs a SAM-style predictor (model, transform, set_torch_image)")
    records, example = [], None
    for n_img, image in enumerate(tqdm(images, desc=desc, unit="img")):
        objects = [o for o in image.objects if not o.ignore]
        masks = [(o, o.mask()) for o in objects]
        masks = [(o, m) for o, m in masks if m.any()]
        if not masks:
            continue
        rgb = image.load()
        orig_hw = rgb.shape[:2]
        x_clean = _model_input(predictor, rgb)
        predictor.set_image(rgb)
        recs = []
        for o, gt in masks:
            rec = {"image_id": image.image_id, "object_id": o.object_id, "area_px": o.area_px,
                   "clean": {k: mask_iou(_predict(predictor, k, gt), gt) for k in PROMPTS},
                   "embedding": {}, "prompt": {}}
            recs.append(rec)
        for eps in budgets:
            key = f"{eps * 255:g}/255"
            x_adv = embedding_attack(predictor.model, x_clean, eps, steps, seed=seed + n_img)
            recs[0].setdefault("embedding_distortion", {})[key] = _distortion(predictor.model, x_clean, x_adv,
                                                                               eps, seed + n_img)
            predictor.set_torch_image(x_adv, orig_hw)
            for rec, (o, gt) in zip(recs, masks):
                preds = {k: _predict(predictor, k, gt) for k in PROMPTS}
                rec["embedding"][key] = {k: mask_iou(preds[k], gt) for k in PROMPTS}
                if example is None and eps == max(budgets):
                    example = {"image": rgb, "attacked_input": x_adv[0].permute(1, 2, 0).cpu().numpy(),
                               "clean_input": x_clean[0].permute(1, 2, 0).cpu().numpy(), "gt": gt,
                               "attacked_box_mask": preds["box"], "box_xyxy": box_from_mask(gt),
                               "eps": key, "image_id": image.image_id}
            for i, (rec, (o, gt)) in enumerate(zip(recs, masks)):
                if prompt_attack_objects is not None and i >= prompt_attack_objects:
                    continue
                rec["prompt"][key] = {}
                gt_t = torch.as_tensor(gt)
                for k in PROMPTS:
                    x_p = prompt_attack(predictor.model, x_clean, gt_t, orig_hw, eps, steps, seed=seed + n_img,
                                        **_prompt_kwargs(predictor, k, gt, orig_hw))
                    predictor.set_torch_image(x_p, orig_hw)
                    rec["prompt"][key][k] = mask_iou(_predict(predictor, k, gt), gt)
        if example is not None and "clean_box_mask" not in example:
            predictor.set_image(rgb)
            example["clean_box_mask"] = _predict(predictor, "box", example["gt"])
        records.extend(recs)
    return records, example


def summarize_robustness(records: Sequence[dict]) -> dict:
    """mIoU clean and per attack/budget/prompt, with the drop from clean (over the same objects)."""
    if not records:
        return {"count": 0}
    out = {"count": len(records), "clean": {k: float(np.mean([r["clean"][k] for r in records])) for k in PROMPTS}}
    for attack in ("embedding", "prompt"):
        out[attack] = {}
        budgets = sorted({b for r in records for b in r[attack]}, key=lambda b: float(b.split("/")[0]))
        for b in budgets:
            recs = [r for r in records if b in r[attack]]
            entry = {"count": len(recs)}
            for k in PROMPTS:
                attacked = float(np.mean([r[attack][b][k] for r in recs]))
                clean = float(np.mean([r["clean"][k] for r in recs]))
                entry[k] = {"miou": attacked, "drop": clean - attacked}
            if attack == "embedding":
                dist = [r["embedding_distortion"][b] for r in records if b in r.get("embedding_distortion", {})]
                entry["embedding_change"] = {k: float(np.mean([d[k] for d in dist])) for k in ("attack", "random")}
            out[attack][b] = entry
    return out
