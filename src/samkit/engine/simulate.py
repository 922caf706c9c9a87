"""The whole data-engine loop with a simulated annotator (samkit.engine.sim_annotator), measured.

The images are split, in order, into one batch per round; each round runs one stage on its batch
and then retrains (samkit.engine.retrain) with the held-out ground truth as the yardstick:
  stage 1: every GT object (largest first) clicked until IoU >= 0.9 or max clicks;
  stage 2: pre-fill (strict AMG), the simulated human accepts proposals matching a GT object,
           rejects the rest, and clicks the objects still missing;
  stage 3: AMG with the paper's settings, then a sampled review (accepted when IoU >= 0.5 with a
           GT object); the retrain after it also trains on the unrejected automatic masks.
Per round: clicks and simulated seconds per mask, masks per image, held-out mIoU (1 and 5 clicks).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samkit.engine.auto_stage import run_auto
from samkit.engine.export import split_images
from samkit.engine.heldout_eval import HeldoutImage
from samkit.engine.prefill import run_prefill
from samkit.engine.project import EngineProject, init_project
from samkit.engine.retrain import RetrainOptions, retrain
from samkit.engine.sim_annotator import SimCosts, best_gt_iou, click_object, match_proposals
from samkit.errors import InputError


@dataclass
class GtObject:
    mask: np.ndarray  # H x W bool
    area: int
    crowd: bool


@dataclass
class SimOptions:
    stages: tuple[int, ...] = (1, 2, 3)
    costs: SimCosts = field(default_factory=SimCosts)
    retrain: RetrainOptions = field(default_factory=RetrainOptions)
    auto_overrides: dict = field(default_factory=dict)  # stage-3 generator settings (grid, crops, ...)
    prefill_overrides: dict = field(default_factory=dict)
    review_fraction: float = 0.25  # share of a round's automatic masks a reviewer checks
    max_objects_per_image: int = 12  # GT objects the human clicks per image (largest first)
    # the retrain after stage 3 also trains on its unrejected masks only when the review passed them
    stage3_train_max_rejection: float = 0.3
    seed: int = 0


def prepare_project(dir: Path, gt_json: Path, images_folder: Path, max_images: int | None, model: str | None,
                    seed: int = 0) -> EngineProject:
    """A fresh project over (a seeded subset of) the GT file's images that have objects: links to
    them in DIR/images, so the project holds exactly the simulated images."""
    from samkit.data.coco import read_coco_json
    from samkit.data.records import IssueLog

    if (dir / "engine.toml").exists():
        raise InputError(f"{dir} already holds a project; the simulation needs a fresh folder")
    images, anns = read_coco_json(gt_json, IssueLog(f"coco:{gt_json.name}"))
    with_objects = sorted({images[a["image_id"]]["file_name"] for a in anns if not a["iscrowd"]})
    names = [n for n in with_objects if (images_folder / n).is_file()]
    if not names:
        raise InputError(f"no image of {gt_json} was found in {images_folder}")
    if max_images is not None and max_images < len(names):
        rng = np.random.default_rng(seed)
        names = sorted(rng.choice(names, size=max_images, replace=False).tolist())
    link_dir = dir / "images"
    link_dir.mkdir(parents=True, exist_ok=True)
    for n in names:
        link = link_dir / Path(n).name
        if not link.exists():
            os.symlink((images_folder / n).resolve(), link)
    return init_project(dir, link_dir, model)


def load_gt(project: EngineProject, gt_json: Path) -> dict[int, list[GtObject]]:
    """GT objects per project image id, matched by file name."""
    from samkit.data.coco import decode_segmentation, read_coco_json
    from samkit.data.records import IssueLog

    images, anns = read_coco_json(gt_json, IssueLog(f"coco:{gt_json.name}"))
    by_name: dict[str, list] = {}
    for a in anns:
        by_name.setdefault(Path(images[a["image_id"]]["file_name"]).name, []).append(a)
    out = {}
    for im in project.store.images():
        objs = []
        for a in by_name.get(Path(im.path).name, []):
            m = decode_segmentation(a["segmentation"], im.height, im.width)
            objs.append(GtObject(m, int(m.sum()), a["iscrowd"]))
        out[im.id] = sorted(objs, key=lambda o: -o.area)
    return out


def _things(objs: list[GtObject], costs: SimCosts, limit: int) -> list[GtObject]:
    return [o for o in objs if not o.crowd and o.area >= costs.min_object_area_px][:limit]


def _click_all(project, predictor, image, objs, stage, round_k, costs, tally) -> None:
    from samkit.automatic.rle import encode_coco_rle

    for j, obj in enumerate(objs):
        res = click_object(predictor, obj.mask, costs)
        tally["seconds"] += res.seconds
        tally["clicks_total"] += res.clicks
        if res.mask is None:
            tally["skipped"] += 1
            continue
        project.store.add_mask(image.id, encode_coco_rle(res.mask), stage=stage, round=round_k,
                               source="annotator:sim", clicks=res.clicks, seconds=res.seconds,
                               client_id=f"sim:{stage}:{round_k}:{image.id}:{j}")


def _manual_round(project, images, gt, stage, opt: SimOptions, tally, progress) -> None:
    """Stage 1 (all objects) or stage 2 (proposals judged, then the missed objects)."""
    from tqdm.auto import tqdm

    from samkit.image_io import load_image
    from samkit.inference.model_family import image_predictor

    store, costs = project.store, opt.costs
    round_k = store.state()["round"]
    model = project.load_model()
    if stage == 2:
        run_prefill(project, opt.prefill_overrides, [im.id for im in images], progress=progress, model=model)
    predictor = image_predictor(model)
    for image in tqdm(images, desc=f"stage {stage} (simulated)", unit="img", disable=not progress):
        objs = _things(gt[image.id], costs, opt.max_objects_per_image)
        predictor.set_image(load_image(project.images_folder / image.path))
        if stage == 2:
            proposals = store.masks(image.id, stage=2, state="proposed")
            all_gt = [o.mask for o in gt[image.id] if not o.crowd]
            chosen, _ = match_proposals([p.mask() for p in proposals], all_gt, costs.proposal_iou)
            for i, p in enumerate(proposals):
                store.set_mask_state(p.id, "accepted" if i in chosen else "rejected", expected_version=p.version)
            tally["seconds"] += costs.seconds_per_proposal * len(proposals)
            tally["proposals_accepted"] += len(chosen)
            tally["proposals_rejected"] += len(proposals) - len(chosen)
            covered = {id(all_gt[j]) for j in chosen.values()}
            objs = [o for o in objs if id(o.mask) not in covered]
        _click_all(project, predictor, image, objs, stage, round_k, costs, tally)
        store.finish_image(image.id, stage, "sim")


def _auto_round(project, images, gt, opt: SimOptions, tally, progress) -> None:
    store = project.store
    run_auto(project, opt.auto_overrides, image_ids=[im.id for im in images], progress=progress)
    ids = {im.id for im in images}
    n_auto = sum(1 for m in store.masks(stage=3) if m.image_id in ids)
    sample = [m for m in store.sample_for_review(max(1, math.ceil(opt.review_fraction * n_auto)), opt.seed)
              if m.image_id in ids]
    rejected = 0
    for m in sample:
        ok = best_gt_iou(m.mask(), [o.mask for o in gt[m.image_id] if not o.crowd]) >= opt.costs.review_iou
        store.record_review(m.id, "accept" if ok else "reject", "sim")
        rejected += not ok
    tally["reviewed"] += len(sample)
    tally["review_rejected"] += rejected


def heldout_items(project: EngineProject, gt, opt: SimOptions) -> list[HeldoutImage]:
    _, held = split_images(project, opt.retrain.heldout_fraction)
    items = []
    for im in held:
        objs = _things(gt[im.id], opt.costs, opt.retrain.max_eval_objects_per_image)
        if objs:
            items.append(HeldoutImage(project.images_folder / im.path, tuple(o.mask for o in objs)))
    return items


def run_simulation(project: EngineProject, gt_json: Path, opt: SimOptions, progress: bool = True,
                   log=print) -> dict:
    """Run the rounds (opt.stages) on the project's images; returns {"rounds": [...], "heldout": ...}."""
    import dataclasses

    gt = load_gt(project, gt_json)
    held = heldout_items(project, gt, opt)
    if not held:
        raise InputError("no held-out image has a GT object: use more images or a larger heldout fraction")
    images = [im for im in project.store.images() if im.status == "ok"]
    batches = np.array_split(np.arange(len(images)), len(opt.stages))
    rounds = []
    for r, (stage, idx) in enumerate(zip(opt.stages, batches), start=1):
        batch = [images[i] for i in idx]
        store = project.store
        round_k = store.state()["round"]
        tally = dict.fromkeys(("seconds", "clicks_total", "skipped", "proposals_accepted", "proposals_rejected",
                               "reviewed", "review_rejected"), 0)
        log(f"simulation round {r}: stage {stage} on {len(batch)} images (model of round {round_k})")
        if stage in (1, 2):
            _manual_round(project, batch, gt, stage, opt, tally, progress)
        else:
            _auto_round(project, batch, gt, opt, tally, progress)
        ids = {im.id for im in batch}
        masks = [m for m in store.masks(stage=stage, state="accepted") if m.image_id in ids]
        rejection = tally["review_rejected"] / tally["reviewed"] if tally["reviewed"] else None
        self_train = stage == 3 and rejection is not None and rejection <= opt.stage3_train_max_rejection
        ropt = dataclasses.replace(opt.retrain, include_stage3=self_train, seed=opt.retrain.seed + r)
        try:
            res = retrain(project, ropt, heldout=held, log=log)
        except InputError as e:  # nothing to train on yet (e.g. every object skipped): the model stays
            log(f"round {r}: no retraining: {e}")
            res = {"adopted": False, "train_masks": 0, "train_seconds": 0.0, "previous": None}
        k = opt.retrain.eval_clicks
        prev = res.get("previous") or {}
        rounds.append({
            "round": r, "stage": stage, "model_round": round_k, "images": len(batch), "masks": len(masks),
            "masks_per_image": len(masks) / max(len(batch), 1),
            "clicks_per_mask": sum(m.clicks for m in masks) / len(masks) if masks else None,
            "seconds_per_mask": tally["seconds"] / len(masks) if masks else None,
            "skipped_objects": tally["skipped"], "proposals_accepted": tally["proposals_accepted"],
            "proposals_rejected": tally["proposals_rejected"],
            "review_rejection_rate": rejection, "trained_on_stage3": self_train,
            "miou_1click_before": prev.get("miou_1click"), f"miou_{k}click_before": prev.get(f"miou_{k}click"),
            "miou_1click_after": res.get("miou_1click"), f"miou_{k}click_after": res.get(f"miou_{k}click"),
            "adopted": res["adopted"], "train_masks": res["train_masks"], "train_seconds": res["train_seconds"],
        })
    return {"rounds": rounds, "heldout_images": len(held), "heldout_objects": sum(len(h.masks) for h in held),
            "costs": dataclasses.asdict(opt.costs), "eval_clicks": opt.retrain.eval_clicks,
            "retrain_steps": opt.retrain.steps, "stages": list(opt.stages)}
