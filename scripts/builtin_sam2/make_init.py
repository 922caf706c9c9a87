"""Assemble the initial sam2_cpu checkpoint: the SAM 1 built-in model's heads transplanted
(samkit.training.sam2_transplant) + the distilled image encoder (samkit.training.distill).

  python scripts/builtin_sam2/make_init.py --encoder /work/builtin_sam2/distill/student_encoder.safetensors \
      --out /work/builtin_sam2/init/model.safetensors --data ../shared/data

--encoder also takes a distillation checkpoint (RUN_DIR/checkpoints/latest.pt) to look at a run in
progress. The object-score token is calibrated on SAM 1's embeddings of a few training images.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from samkit.build import load_model, save_checkpoint
from samkit.builder_sam2 import build_sam2_model
from samkit.training.distill import Distiller, default_sources, load_student_encoder
from samkit.training.distill_images import ImagePool, val_views
from samkit.training.sam2_transplant import calibrate_obj_token, obj_token_effect, random_prompts, transplant_sam1_heads


def read_encoder(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    if path.suffix == ".pt":
        state = torch.load(path, map_location="cpu", weights_only=True)
        return state["student"], f"{path} (step {state['step']})"
    return load_student_encoder(path), str(path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--data", default=os.environ.get("SAMKIT_DATA", "../shared/data"))
    ap.add_argument("--calib-images", type=int, default=16)
    ap.add_argument("--calib-steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(args.threads)

    sam1 = load_model(device="cpu", dtype="float32")
    torch.manual_seed(0)
    sam2 = build_sam2_model("sam2_cpu").eval()
    report = transplant_sam1_heads(sam1, sam2)
    state, source = read_encoder(args.encoder)
    sam2.image_encoder.load_state_dict(state, strict=True)

    # Calibration images: whole training-side photos and frames (never the held-out split).
    photos_and_frames = [s for s in default_sources(args.data) if "coco" in s.path or "davis" in s.path]
    pool = ImagePool.from_sources(photos_and_frames, "train", 0.15, 0)
    views = torch.from_numpy(val_views(pool, sam2.image_size, 2 * args.calib_images))
    d = Distiller(sam1, sam2.image_encoder, sam2.image_size)
    with torch.no_grad():
        emb = torch.cat([d.teacher_embedding(views[i:i + 8]) for i in range(0, len(views), 8)])
    fit, check = emb[::2], emb[1::2]
    g = torch.Generator().manual_seed(0)
    prompts = [random_prompts(32, sam2.image_size, g, max_clicks=1) for _ in check]
    before = np.mean([obj_token_effect(sam1, sam2, e[None], *p)["mask_iou"] for e, p in zip(check, prompts)])
    losses = calibrate_obj_token(sam1, sam2, fit, steps=args.calib_steps)
    after = np.mean([obj_token_effect(sam1, sam2, e[None], *p)["mask_iou"] for e, p in zip(check, prompts)])
    info = {"encoder": source, "transplant": {k: len(v) for k, v in report.items()},
            "obj_token_calibration": {"loss_first": losses[0] if losses else None,
                                      "loss_last10": float(np.mean(losses[-10:])) if losses else None,
                                      "mask_iou_vs_sam1_before": float(before), "mask_iou_vs_sam1_after": float(after)}}
    sam2.eval()
    save_checkpoint(sam2, args.out, metadata={"samkit_init": json.dumps(info)})
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
