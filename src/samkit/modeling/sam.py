"""The Sam module: image encoder + prompt encoder + mask decoder, with the official pre/post-processing.

No `no_grad` anywhere here: the same module trains, fine-tunes and runs attacks. Inference wrappers
(samkit.inference) switch gradients off themselves.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from samkit.config import SamConfig
from samkit.modeling.mask_decoder import MaskDecoder
from samkit.modeling.prompt_encoder import PromptEncoder


class Sam(nn.Module):
    mask_threshold: float = 0.0
    image_format: str = "RGB"

    def __init__(self, image_encoder: nn.Module, prompt_encoder: PromptEncoder, mask_decoder: MaskDecoder,
                 pixel_mean: tuple[float, ...], pixel_std: tuple[float, ...], config: SamConfig | None = None) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(-1, 1, 1), False)
        # Compute dtype of the image encoder (set by samkit.build.load_model); weights stay fp32.
        self.encoder_dtype: torch.dtype = torch.float32
        # Optional runtime for inference encodes (samkit.accel's OpenVINO encoder), set by load_model.
        self.encoder_backend = None

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def img_size(self) -> int:
        return self.image_encoder.img_size

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise pixels and zero-pad bottom/right to img_size. x: B x 3 x h x w (0..255)."""
        x = (x - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        return F.pad(x, (0, self.img_size - w, 0, self.img_size - h))

    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised, padded B x 3 x S x S -> embeddings B x C x h x w (fp32), in the encoder dtype.

        With a reduced encoder dtype (bf16 fast path) matmuls run in that dtype under autocast while
        norms and softmax stay fp32; the embedding is returned in fp32 for the decoder.
        """
        backend = self.encoder_backend
        if backend is not None and not torch.is_grad_enabled() and backend.serves(self, x):
            return backend(x)
        if self.encoder_dtype not in (torch.bfloat16, torch.float16):
            return self.image_encoder(x)
        with torch.autocast(device_type=x.device.type, dtype=self.encoder_dtype):
            return self.image_encoder(x).float()

    def postprocess_masks(self, masks: torch.Tensor, input_size: tuple[int, ...],
                          original_size: tuple[int, ...]) -> torch.Tensor:
        """Low-res B x K x 4h x 4w -> B x K x H x W at original size (upscale, crop padding, resize).

        Same result as upscaling to img_size, cropping to input_size and resizing to original_size,
        but the first upscale only computes the rows/columns that survive the crop: we crop the
        low-res input to the samples those outputs read (bilinear reads index floor(src) + 1 at most)
        and upscale it with the same fixed scale factor, so every output value is computed by the
        identical formula (bit-exact) while ~25% of a 4:3 image's work and a full-size copy go away.
        """
        low_h, low_w = masks.shape[-2:]
        scale = self.img_size / low_h
        if scale == self.img_size / low_w and scale == int(scale) and scale > 1:
            keep_h = min(low_h, -(-int(input_size[0]) // int(scale)) + 1)
            keep_w = min(low_w, -(-int(input_size[1]) // int(scale)) + 1)
            masks = F.interpolate(masks[..., :keep_h, :keep_w], scale_factor=scale, mode="bilinear",
                                  align_corners=False, recompute_scale_factor=False)
        else:
            masks = F.interpolate(masks, (self.img_size, self.img_size), mode="bilinear", align_corners=False)
        masks = masks[..., : input_size[0], : input_size[1]]
        return F.interpolate(masks, tuple(original_size), mode="bilinear", align_corners=False)

    def forward(self, batched_input: list[dict[str, Any]], multimask_output: bool) -> list[dict[str, torch.Tensor]]:
        """End-to-end prediction, same inputs and outputs as segment_anything's Sam.forward.

        Each input dict: 'image' 3 x h x w (already resized), 'original_size' (H, W), optional
        'point_coords' B x N x 2 and 'point_labels' B x N (model-input frame), 'boxes' B x 4,
        'mask_inputs' B x 1 x 4h x 4w. Each output: 'masks' B x K x H x W bool, 'iou_predictions' B x K,
        'low_res_logits' B x K x 4h x 4w.
        """
        images = torch.stack([self.preprocess(rec["image"]) for rec in batched_input], dim=0)
        embeddings = self.encode_images(images)
        outputs = []
        for rec, emb in zip(batched_input, embeddings):
            points = (rec["point_coords"], rec["point_labels"]) if "point_coords" in rec else None
            sparse, dense = self.prompt_encoder(points=points, boxes=rec.get("boxes"), masks=rec.get("mask_inputs"))
            low_res, iou = self.mask_decoder(emb.unsqueeze(0), self.prompt_encoder.get_dense_pe(), sparse, dense,
                                             multimask_output)
            masks = self.postprocess_masks(low_res, rec["image"].shape[-2:], rec["original_size"])
            outputs.append({"masks": masks > self.mask_threshold, "iou_predictions": iou, "low_res_logits": low_res})
        return outputs
