"""Does the bf16 fast path keep the masks? Track a real clip from its first-frame GT mask with the
same SAM 2 model in fp32 and on the bf16 path, and report the IoU of the two masks per frame.

    python benchmarks/sam2_video_bf16_iou.py --model sam2 --video ../shared/data/davis2016 --sequence dog --frames 40

--model: "sam2" (samkit's built-in SAM 2), a preset with --checkpoint, or a checkpoint path.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def track(predictor, frames_dir: str, first_mask: np.ndarray) -> list[np.ndarray]:
    state = predictor.init_state(frames_dir)
    predictor.add_new_mask(state, 0, 1, first_mask)
    return [(logits[0, 0] > 0).cpu().numpy() for _, _, logits in predictor.propagate_in_video(state)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="sam2")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--video", default="../shared/data/davis2016", help="a DAVIS root")
    ap.add_argument("--sequence", default="dog")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import tempfile

    from PIL import Image

    from samkit.build import load_model
    from samkit.data.davis import list_davis_frames, read_davis_labels
    from samkit.video.build_video import video_predictor_from_model

    pairs = list_davis_frames(args.video, [args.sequence])[args.sequence][: args.frames]
    first_mask = read_davis_labels(pairs[0][1]) > 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (jpg, _) in enumerate(pairs):  # the clip's first N frames as a frame folder
            Image.open(jpg).save(Path(tmp) / f"{i:05d}.jpg")
        masks = {}
        for dtype in ("float32", "bfloat16"):
            name, ckpt = args.model, args.checkpoint
            if ckpt is None and Path(name).suffix in (".safetensors", ".pt", ".pth"):
                name, ckpt = None, name
            model = load_model(name, ckpt, device="cpu", dtype=dtype)
            masks[dtype] = track(video_predictor_from_model(model), tmp, first_mask)
    ious = []
    for a, b in zip(masks["float32"], masks["bfloat16"]):
        union = (a | b).sum()
        ious.append(1.0 if union == 0 else (a & b).sum() / union)
    gt_iou = []
    for (jpg, png), a in zip(pairs, masks["float32"]):
        gt = read_davis_labels(png) > 0
        gt_iou.append((a & gt).sum() / max((a | gt).sum(), 1))
    print(f"{args.model} on {args.sequence}, {len(ious)} frames: bf16 vs fp32 mask IoU mean {np.mean(ious):.4f}, "
          f"min {np.min(ious):.4f} (frame {int(np.argmin(ious))}); fp32 vs GT J {np.mean(gt_iou):.3f}")


if __name__ == "__main__":
    main()
