"""Check an exported ONNX decoder against the PyTorch model it came from, on random prompts.

The PyTorch side is the ordinary path, not the export wrapper: `prompt_encoder(points, boxes, masks)`
(which adds the padding point itself when there is no box), `mask_decoder(...)` with and without
multimask output, and `postprocess_masks` to the original size. So the check covers the wrapper's
re-expression of the prompt encoding and postprocessing as well as the exporter.

Cases cycle through several aspect ratios and cover 1..max_points points, with and without a box,
with and without a mask input.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from samkit.export.decoder_model import STABILITY_OFFSET, stability_scores

DEFAULT_ORIG_HW = ((480, 640), (640, 480), (300, 1200), (1000, 1000), (37, 211), (2000, 1500))


@dataclass
class DecoderCase:
    """One prompt in both encodings: PyTorch arguments and the ONNX feed."""

    orig_hw: tuple[int, int]
    points_xy: np.ndarray  # N x 2, model-input frame
    point_labels: np.ndarray  # N, 0/1
    box_xyxy: np.ndarray | None  # 4, model-input frame
    mask_input: np.ndarray | None  # 1 x 4h x 4w logits

    def onnx_feed(self, image_embeddings: np.ndarray) -> dict[str, np.ndarray]:
        coords, labels = self.points_xy, self.point_labels.astype(np.float32)
        if self.box_xyxy is not None:
            coords = np.concatenate([coords, self.box_xyxy.reshape(2, 2)])
            labels = np.concatenate([labels, [2.0, 3.0]])
        else:  # the official front-end's convention: a padding point when there is no box
            coords = np.concatenate([coords, np.zeros((1, 2))])
            labels = np.concatenate([labels, [-1.0]])
        mask_hw = image_embeddings.shape[-2] * 4, image_embeddings.shape[-1] * 4
        mask = self.mask_input if self.mask_input is not None else np.zeros((1, *mask_hw), np.float32)
        return {
            "image_embeddings": image_embeddings.astype(np.float32),
            "point_coords": coords[None].astype(np.float32),
            "point_labels": labels[None].astype(np.float32),
            "mask_input": mask[None].astype(np.float32),
            "has_mask_input": np.array([0.0 if self.mask_input is None else 1.0], np.float32),
            "orig_im_size": np.array(self.orig_hw, np.float32),
        }


@dataclass
class ParityReport:
    """Largest absolute difference per output over all cases, the largest |torch value| per output
    (the scale fp32 rounding grows with), and the cases' count."""

    max_abs_diff: dict[str, float] = field(default_factory=dict)
    max_abs_value: dict[str, float] = field(default_factory=dict)
    num_cases: int = 0

    def update(self, name: str, diff: float, scale: float = 0.0) -> None:
        self.max_abs_diff[name] = max(self.max_abs_diff.get(name, 0.0), diff)
        self.max_abs_value[name] = max(self.max_abs_value.get(name, 0.0), scale)

    def passed(self, tol: float) -> bool:
        """Every output within tol, relative to its scale once that exceeds 1: a trained decoder's
        mask logits reach tens, and float32 rounding (~1e-7 relative) grows with them through the
        upscaling, so an absolute 1e-4 would fail an exact export of such a model."""
        return bool(self.max_abs_diff) and all(
            v <= tol * max(1.0, self.max_abs_value.get(k, 0.0)) for k, v in self.max_abs_diff.items())

    def summary(self) -> str:
        diffs = ", ".join(f"{k} {v:.2e} (of |torch| up to {self.max_abs_value.get(k, 0.0):.3g})"
                          for k, v in self.max_abs_diff.items())
        return f"{self.num_cases} cases, max |onnx - torch|: {diffs}"


def _input_hw(orig_hw: tuple[int, int], img_size: int) -> tuple[int, int]:
    scale = img_size / max(orig_hw)
    return max(1, int(orig_hw[0] * scale + 0.5)), max(1, int(orig_hw[1] * scale + 0.5))


def random_cases(
    model: nn.Module, max_points: int = 10, orig_hws=DEFAULT_ORIG_HW, seed: int = 0
) -> list[DecoderCase]:
    """1..max_points points x (box, no box) x (mask input, none), aspect ratios cycled."""
    rng = np.random.default_rng(seed)
    img_size = int(model.image_encoder.img_size)
    h, w = (int(s) for s in model.prompt_encoder.image_embedding_size)
    cases = []
    combos = itertools.product(range(1, max_points + 1), (False, True), (False, True))
    for i, (n, with_box, with_mask) in enumerate(combos):
        orig_hw = tuple(orig_hws[i % len(orig_hws)])
        in_h, in_w = _input_hw(orig_hw, img_size)
        points = rng.uniform(0, 1, (n, 2)) * [in_w, in_h]
        box = None
        if with_box:
            corners = np.sort(rng.uniform(0, 1, (2, 2)) * [in_w, in_h], axis=0)
            box = corners.reshape(4)
        mask = rng.normal(0, 4, (1, 4 * h, 4 * w)).astype(np.float32) if with_mask else None
        labels = rng.integers(0, 2, n)
        cases.append(DecoderCase(orig_hw, points.astype(np.float32), labels, box, mask))
    return cases


@torch.no_grad()
def torch_outputs(model: nn.Module, image_embeddings: torch.Tensor, case: DecoderCase) -> dict[str, np.ndarray]:
    """All 4 masks through the model's ordinary PyTorch path, in the ONNX output layout."""
    dev = image_embeddings.device
    coords = torch.as_tensor(case.points_xy, device=dev)[None]
    labels = torch.as_tensor(case.point_labels, device=dev, dtype=torch.int64)[None]
    boxes = None if case.box_xyxy is None else torch.as_tensor(case.box_xyxy, device=dev)[None]
    masks = None if case.mask_input is None else torch.as_tensor(case.mask_input, device=dev)[None]
    sparse, dense = model.prompt_encoder(points=(coords, labels), boxes=boxes, masks=masks)
    image_pe = model.prompt_encoder.get_dense_pe()
    low_res, ious = [], []
    for multimask in (False, True):
        lr, iou = model.mask_decoder(
            image_embeddings=image_embeddings, image_pe=image_pe, sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=multimask,
        )
        low_res.append(lr)
        ious.append(iou)
    low_res_t, iou_t = torch.cat(low_res, dim=1), torch.cat(ious, dim=1)
    input_hw = _input_hw(case.orig_hw, int(model.image_encoder.img_size))
    masks_t = model.postprocess_masks(low_res_t, input_hw, case.orig_hw)
    stab = stability_scores(low_res_t, float(model.mask_threshold), STABILITY_OFFSET)
    return {
        "masks": masks_t.cpu().numpy(),
        "iou_predictions": iou_t.cpu().numpy(),
        "low_res_masks": low_res_t.cpu().numpy(),
        "stability_scores": stab.cpu().numpy(),
    }


def select_single(outputs: dict[str, np.ndarray], num_points_with_pad: int) -> dict[str, np.ndarray]:
    """The official single-mask rule applied to torch outputs: >= 3 inputs -> 0, else best of 1..3."""
    iou = outputs["iou_predictions"][0]
    idx = 0 if num_points_with_pad >= 3 else 1 + int(np.argmax(iou[1:]))
    return {k: v[:, idx : idx + 1] for k, v in outputs.items()}


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """A CPU onnxruntime session; threads=None uses as many intra-op threads as torch does."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check_decoder_parity(
    model: nn.Module,
    onnx_path: str | os.PathLike,
    cases: list[DecoderCase] | None = None,
    image_embeddings: torch.Tensor | None = None,
) -> ParityReport:
    """Run every case through onnxruntime and PyTorch; return the max abs difference per output."""
    model = model.eval()
    session = onnx_session(onnx_path)
    out_names = [o.name for o in session.get_outputs()]
    single = session.get_outputs()[1].shape[1] == 1
    cases = cases if cases is not None else random_cases(model)
    if image_embeddings is None:
        c = int(model.prompt_encoder.embed_dim)
        h, w = (int(s) for s in model.prompt_encoder.image_embedding_size)
        image_embeddings = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(1))
    dev = next(model.parameters()).device
    emb = image_embeddings.to(device=dev, dtype=torch.float32)
    report = ParityReport()
    for case in cases:
        feed = case.onnx_feed(emb.cpu().numpy())
        got = dict(zip(out_names, session.run(None, feed)))
        want = torch_outputs(model, emb, case)
        if single:
            want = select_single(want, feed["point_coords"].shape[1])
        for name, value in got.items():
            if value.shape != want[name].shape:
                raise AssertionError(f"{name}: onnx shape {value.shape} != torch shape {want[name].shape}")
            report.update(name, float(np.abs(value - want[name]).max()), float(np.abs(want[name]).max()))
        report.num_cases += 1
    return report


def mask_iou_between(path_a, path_b, model: nn.Module, cases=None, mask_threshold: float = 0.0):
    """Masks IoU (at original size, thresholded) of two ONNX decoders on the same prompts.

    Returns (mean IoU, min IoU) over every case and every output mask; masks empty in both count 1.
    """
    sess_a, sess_b = onnx_session(path_a), onnx_session(path_b)
    cases = cases if cases is not None else random_cases(model)
    c = int(model.prompt_encoder.embed_dim)
    h, w = (int(s) for s in model.prompt_encoder.image_embedding_size)
    emb = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(1)).numpy()
    ious = []
    for case in cases:
        feed = case.onnx_feed(emb)
        ma = sess_a.run(["masks"], feed)[0][0] > mask_threshold
        mb = sess_b.run(["masks"], feed)[0][0] > mask_threshold
        inter = np.logical_and(ma, mb).sum(axis=(-1, -2))
        union = np.logical_or(ma, mb).sum(axis=(-1, -2))
        ious.extend(np.where(union > 0, inter / np.maximum(union, 1), 1.0).tolist())
    return float(np.mean(ious)), float(np.min(ious))
