"""Assemble the initial sam2_cpu checkpoint: the SAM 1 built-in model's heads transplanted
(samkit.training.sam2_transplant) + the distilled image encoder (samkit.training.distill).

  python scripts/builtin_sam2/make_init.py --encoder /work/builtin_sam2/distill/student_encoder.safetensors \
      --out /work/builtin_sam2/init/model.safetensors --data ../shared/data

--encoder also takes a distillation checkpoint (RUN_DIR/checkpoints/latest.pt) to look at a run in
progress. The heads are then calibrated to SAM 1's masks under SAM 2's prompt conventions
(samkit.training.sam2_head_calibration) on SAM 1's embeddings of training photos and frames, and the
memory attention starts as the identity on image features (samkit.training.sam2_memory_init), so
the tracker's training starts from frames the heads already segment.
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
from samkit.training.sam2_head_calibration import agreement_with_sam1, calibrate_heads
from samkit.training.sam2_memory_init import init_memory_attention_as_identity
from samkit.training.sam2_transplant import transplant_sam1_heads


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
    ap.add_argument("--token-steps", type=int, default=100, help="object-score token calibration steps")
    ap.add_argument("--calib-steps", type=int, default=600, help="head calibration steps")
    ap.add_argument("--identity-memory-images", type=int, default=8,
                    help="start the memory attention as the identity, its final norm fitted on this many "
                         "training views (samkit.training.sam2_memory_init); 0 leaves it random")
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
    before = agreement_with_sam1(sam1, sam2, check)
    token_losses = calibrate_heads(sam1, sam2, fit, steps=args.token_steps, which="obj_token")
    after_token = agreement_with_sam1(sam1, sam2, check)
    head_losses = calibrate_heads(sam1, sam2, fit, steps=args.calib_steps, which="heads")
    after = agreement_with_sam1(sam1, sam2, check)
    memory = None
    if args.identity_memory_images > 0:
        x = views[:args.identity_memory_images].permute(0, 3, 1, 2).float()
        memory = init_memory_attention_as_identity(sam2, (x - d.s_mean) / d.s_std)
    info = {"encoder": source, "identity_memory": memory, "transplant": {k: len(v) for k, v in report.items()},
            "calibration": {"token_steps": len(token_losses), "head_steps": len(head_losses),
                            "head_loss_first10": float(np.mean(head_losses[:10])) if head_losses else None,
                            "head_loss_last10": float(np.mean(head_losses[-10:])) if head_losses else None,
                            "agreement_with_sam1_before": before, "after_token": after_token, "after_heads": after}}
    sam2.eval()
    save_checkpoint(sam2, args.out, metadata={"samkit_init": json.dumps(info)})
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
