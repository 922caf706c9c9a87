"""Import the official `segment_anything` package (the reference) in tests and benchmarks.

Its modules import torchvision, which has no working CPU build here. We install a minimal stand-in
for the four functions it uses *before* importing it. The stand-in is deliberately written
independently of samkit (a plain greedy NMS, PIL's bilinear resize exactly as torchvision calls it)
so parity tests never compare samkit against itself. Used only by tests/ and benchmarks/.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import torch
from PIL import Image


def _to_pil_image(pic: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(pic))


def _resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    # torchvision.transforms.functional.resize on a PIL image with an (h, w) size calls
    # PIL's resize with (w, h) and BILINEAR interpolation.
    h, w = size
    return img.resize((w, h), Image.BILINEAR)


def _box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    b = boxes.double()
    area = _box_area(b)
    keep: list[int] = []
    suppressed = [False] * len(order)
    pos = {idx: i for i, idx in enumerate(order)}
    for i in order:
        if suppressed[pos[i]]:
            continue
        keep.append(i)
        for j in order[pos[i] + 1 :]:
            if suppressed[pos[j]]:
                continue
            lt = torch.maximum(b[i, :2], b[j, :2])
            rb = torch.minimum(b[i, 2:], b[j, 2:])
            wh = (rb - lt).clamp(min=0)
            inter = wh[0] * wh[1]
            iou = inter / (area[i] + area[j] - inter)
            if iou > iou_threshold:
                suppressed[pos[j]] = True
    return torch.tensor(keep, dtype=torch.int64)


def _batched_nms(boxes, scores, idxs, iou_threshold):
    keep_all: list[torch.Tensor] = []
    for c in torch.unique(idxs).tolist():
        sel = torch.nonzero(idxs == c).flatten()
        keep_all.append(sel[_nms(boxes[sel], scores[sel], iou_threshold)])
    if not keep_all:
        return torch.empty(0, dtype=torch.int64)
    keep = torch.cat(keep_all)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]


def install_torchvision_stub() -> None:
    if "torchvision" in sys.modules and not getattr(sys.modules["torchvision"], "_samkit_stub", False):
        return  # a real torchvision is importable; leave it alone
    tv = types.ModuleType("torchvision")
    tv._samkit_stub = True
    ops = types.ModuleType("torchvision.ops")
    ops_boxes = types.ModuleType("torchvision.ops.boxes")
    ops_boxes.batched_nms = _batched_nms
    ops_boxes.box_area = _box_area
    ops.boxes = ops_boxes
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.resize = _resize
    functional.to_pil_image = _to_pil_image
    transforms.functional = functional
    tv.ops, tv.transforms = ops, transforms
    sys.modules.update(
        {
            "torchvision": tv,
            "torchvision.ops": ops,
            "torchvision.ops.boxes": ops_boxes,
            "torchvision.transforms": transforms,
            "torchvision.transforms.functional": functional,
        }
    )


def import_reference():
    """Return the `segment_anything` module, importable on this CPU-only machine."""
    install_torchvision_stub()
    import segment_anything

    return segment_anything


def build_reference_sam(cfg):
    """Build the reference `Sam` for a samkit ViT `SamConfig` (any size, tiny presets included)."""
    from functools import partial

    sa = import_reference()
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    e, p, d = cfg.encoder, cfg.prompt_encoder, cfg.mask_decoder
    assert e.kind == "vit", "the reference only has the ViT encoder"
    side = e.img_size // e.patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=e.depth, embed_dim=e.embed_dim, img_size=e.img_size, mlp_ratio=e.mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=e.num_heads,
            patch_size=e.patch_size, qkv_bias=True, use_rel_pos=e.use_rel_pos,
            global_attn_indexes=e.global_attn_indexes, window_size=e.window_size, out_chans=e.out_chans,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=p.embed_dim, image_embedding_size=(side, side),
            input_image_size=(e.img_size, e.img_size), mask_in_chans=p.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=d.num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=d.transformer_depth, embedding_dim=d.transformer_dim,
                mlp_dim=d.transformer_mlp_dim, num_heads=d.transformer_num_heads,
                attention_downsample_rate=d.attention_downsample_rate,
            ),
            transformer_dim=d.transformer_dim, iou_head_depth=d.iou_head_depth,
            iou_head_hidden_dim=d.iou_head_hidden_dim,
        ),
        pixel_mean=list(cfg.pixel_mean), pixel_std=list(cfg.pixel_std),
    )
    return sam.eval()


def perturb_weights(model: torch.nn.Module, seed: int = 0, std: float = 0.02) -> torch.nn.Module:
    """Add N(0, std) noise to every parameter, so zero-initialised ones (relative positions, absolute
    positions, biases) take part in the comparison instead of hiding behind zeros."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * std)
    return model


def twin_models(cfg, seed: int = 0):
    """(reference Sam, samkit Sam) holding identical random weights for a ViT config."""
    from samkit.build import build_sam

    torch.manual_seed(seed)
    ref = perturb_weights(build_reference_sam(cfg), seed)
    ours = build_sam(cfg)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref.eval(), ours.eval()
