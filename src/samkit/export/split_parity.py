"""Check the page's split decoder (decoder_split.py) against SAM's ordinary PyTorch path.

Same prompts as parity.py (points, boxes, several aspect ratios; no mask input: the page never
sends one). Compared: predicted IoUs, low-res logits over the cells the prompt graph upscales, and
the masks the page shows: logits upscaled to the original size and thresholded, as masks IoU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from samkit.export.parity import DecoderCase, _input_hw, onnx_session, random_cases, torch_outputs


@dataclass
class SplitReport:
    num_cases: int = 0
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    mask_ious: list[float] = field(default_factory=list)  # per case and mask, original size

    @property
    def min_mask_iou(self) -> float:
        return min(self.mask_ious) if self.mask_ious else float("nan")

    def summary(self) -> str:
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_diff.items())
        return (f"{self.num_cases} cases, max |split - torch|: {diffs}; masks IoU min {self.min_mask_iou:.4f} "
                f"mean {np.mean(self.mask_ious):.4f}")


def valid_low_res_hw(orig_hw: tuple[int, int], img_size: int, embed_hw: tuple[int, int]) -> tuple[int, int]:
    """Low-res rows/cols the prompt graph computes (the rest is padding), as in SamPromptOnnx."""
    patch = img_size // embed_hw[0]
    in_h, in_w = _input_hw(orig_hw, img_size)
    return 4 * min(embed_hw[0], -(-in_h // patch) + 1), 4 * min(embed_hw[1], -(-in_w // patch) + 1)


class SplitDecoderRunner:
    """The two ONNX graphs run as the page runs them: image graph once, prompt graph per prompt."""

    def __init__(self, image_path: str | os.PathLike, prompt_path: str | os.PathLike, threads: int | None = None):
        self.image = onnx_session(image_path, threads)
        self.prompt = onnx_session(prompt_path, threads)
        self.side: dict[str, np.ndarray] = {}

    def set_embedding(self, image_embeddings: np.ndarray) -> None:
        names = [o.name for o in self.image.get_outputs()]
        self.side = dict(zip(names, self.image.run(None, {"image_embeddings": image_embeddings.astype(np.float32)})))

    def run(self, case: DecoderCase, image_embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = case.onnx_feed(image_embeddings)
        feeds = {k: feed[k] for k in ("point_coords", "point_labels", "orig_im_size")} | self.side
        low_res, iou = self.prompt.run(["low_res_masks", "iou_predictions"], feeds)
        return low_res, iou


def masks_iou(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Per-mask IoU of two K x H x W boolean stacks (both empty counts 1)."""
    inter = (a & b).flatten(1).sum(1).double()
    union = (a | b).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).tolist()


@torch.no_grad()
def check_split_parity(model: nn.Module, image_path, prompt_path, cases: list[DecoderCase] | None = None,
                       image_embeddings: torch.Tensor | None = None) -> SplitReport:
    model = model.eval()
    img_size = int(model.image_encoder.img_size)
    embed_hw = tuple(int(s) for s in model.prompt_encoder.image_embedding_size)
    if cases is None:
        cases = [c for c in random_cases(model) if c.mask_input is None]
    if image_embeddings is None:
        c = int(model.prompt_encoder.embed_dim)
        image_embeddings = torch.randn(1, c, *embed_hw, generator=torch.Generator().manual_seed(1))
    emb = image_embeddings.to(torch.float32)
    runner = SplitDecoderRunner(image_path, prompt_path)
    runner.set_embedding(emb.numpy())
    report = SplitReport()
    for case in cases:
        if case.mask_input is not None:
            raise ValueError("the split decoder takes no mask input")
        low_res, iou = runner.run(case, emb.numpy())
        want = torch_outputs(model, emb, case)
        vh, vw = valid_low_res_hw(case.orig_hw, img_size, embed_hw)
        diffs = {"iou_predictions": np.abs(iou - want["iou_predictions"]).max(),
                 "low_res_masks": np.abs(low_res[..., :vh, :vw] - want["low_res_masks"][..., :vh, :vw]).max()}
        for name, diff in diffs.items():
            report.max_abs_diff[name] = max(report.max_abs_diff.get(name, 0.0), float(diff))
        input_hw = _input_hw(case.orig_hw, img_size)
        got_masks = model.postprocess_masks(torch.from_numpy(low_res), input_hw, case.orig_hw)[0] > model.mask_threshold
        want_masks = torch.from_numpy(want["masks"][0]) > model.mask_threshold
        report.mask_ious.extend(masks_iou(got_masks, want_masks))
        report.num_cases += 1
    return report
