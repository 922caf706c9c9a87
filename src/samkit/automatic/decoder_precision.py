"""In which precision SAM 1's AMG runs the mask decoder on its grid points.

Automatic mask generation runs the decoder on every grid point (1024 at 32x32), and with a fast
encoder (dtype="auto": OpenVINO bf16, ~1 s for vit_b) the decoder is where the time goes. Its
per-prompt work is dominated by memory traffic on B x 4096 x 256 image-side tensors (layer norms,
adds, batched matmuls against the image side: torch.profiler, 64 points, fp32), so bf16 pays on
CPU (measured 2026-12-04, vit_b, Intel AMX; docs/benchmarks.md "Automatic mask generation"):
bf16 weights and activations, not autocast. Autocast leaves the layer norms and adds in fp32 and
adds casts (slower than fp32: 2.0 vs 1.9 s for 64 points); a bf16 copy of the decoder halves the
bytes moved (transformer 0.39 vs 0.66 s for 64 points, 2 threads, quiet; 2.1 vs 4.6 s CPU time for
256 points, 1 thread; 1.6-3.0 vs 2.2-5.7 s for 64 points with the 2 cores loaded 6x).
Tried, not kept: sub-batches of 8 prompts (cache-sized B x 4096 x 256 tensors) were 15-40% faster
on a quiet machine but 2-3x slower with the cores shared (8x more parallel regions, each waiting
for a descheduled thread), so the decoder takes points_per_batch prompts per call as before.

Only the transformer (run for every grid point) is bf16. The IoU head reads fp32 weights, so the
predicted-IoU filter gets fp32 arithmetic on bf16 tokens, and the survivors' masks (final attention
of the mask tokens, upscaling, hypernetworks) run on the fp32 decoder: on a real photo's embedding
(16x16 points, thresholds 0) that kept mask IoU vs the fp32 decoder at mean 0.9930 / min 0.9811,
against 0.9911 / 0.9745 with the masks in bf16 too; predicted IoU moves by up to 4e-3.
The bf16 transformer is used only when the model's encoder already runs in reduced precision
(dtype "auto"/"bfloat16"/"int8" -> encoder_dtype bf16 or int8) on a device with fast bf16; an
explicit float32 model, or decoder_dtype=torch.float32, keeps the fp32 decoder.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from samkit.errors import InputError
from samkit.inference.point_decoder import DecodedPoints, ImageSide, PointBatchDecoder, _mlp

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def resolve_decoder_dtype(model: nn.Module, requested: torch.dtype | str | None) -> torch.dtype:
    """The dtype the AMG decoder runs in: `requested` (float32 / bfloat16), or with None the
    model's encoder precision decides: bf16 when the encoder runs in bf16 or int8 and the device
    computes bf16 fast (CUDA with bf16, or a CPU with AMX / AVX-512 bf16), else fp32."""
    if isinstance(requested, str):
        if requested not in _DTYPES:
            raise InputError(f"decoder_dtype must be one of {sorted(_DTYPES)} or None, got {requested!r}")
        requested = _DTYPES[requested]
    if requested is not None:
        if requested not in (torch.float32, torch.bfloat16):
            raise InputError(f"decoder_dtype must be torch.float32 or torch.bfloat16, got {requested}")
        return requested
    if getattr(model, "encoder_dtype", torch.float32) not in (torch.bfloat16, torch.int8):
        return torch.float32
    device = next(model.parameters()).device
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu":
        from samkit.cpu_features import cpu_features

        return torch.bfloat16 if cpu_features().has_fast_bf16 else torch.float32
    return torch.float32


class Bf16PointDecoder(PointBatchDecoder):
    """PointBatchDecoder on a bf16 copy of the mask decoder for the transformer (all grid points);
    the IoU head reads the fp32 weights, and with fp32_masks the survivors' masks (final attention
    of the mask tokens, upscaling, hypernetworks) run on the fp32 decoder from the bf16 tokens.

    prepare() takes the fp32 image embedding, positional encoding and dense prompt, as the base class.
    """

    def __init__(self, mask_decoder: nn.Module, num_heads: int, fp32_masks: bool = True) -> None:
        super().__init__(copy.deepcopy(mask_decoder).to(torch.bfloat16), num_heads)
        self.fp32 = PointBatchDecoder(mask_decoder, num_heads)
        self.fp32_masks = fp32_masks
        self._pe32: torch.Tensor | None = None

    def _iou_head(self, iou_token: torch.Tensor) -> torch.Tensor:
        return _mlp(self.fp32.dec.iou_prediction_head, iou_token.float())

    def prepare(self, image_embedding: torch.Tensor, image_pe: torch.Tensor, dense_embedding: torch.Tensor) -> ImageSide:
        bf16 = torch.bfloat16
        self._pe32 = image_pe.float().flatten(2).transpose(1, 2).contiguous()
        return super().prepare(image_embedding.to(bf16), image_pe.to(bf16), dense_embedding.to(bf16))

    def masks(self, side: ImageSide, out: DecodedPoints, prompts: torch.Tensor | slice,
              multimask: bool | None = True) -> torch.Tensor:
        if not self.fp32_masks:
            return super().masks(side, out, prompts, multimask).float()
        sel = DecodedPoints(iou_pred=out.iou_pred[prompts], iou_single=out.iou_single[prompts],
                            queries=out.queries[prompts].float(), tok_pe=out.tok_pe[prompts].float(),
                            keys=out.keys[prompts].float())
        return self.fp32.masks(dataclasses.replace(side, pe=self._pe32), sel, slice(None), multimask)


def point_decoder_for(mask_decoder: nn.Module, num_heads: int, dtype: torch.dtype) -> PointBatchDecoder:
    """A PointBatchDecoder computing in `dtype` (float32 or bfloat16)."""
    if dtype == torch.bfloat16:
        return Bf16PointDecoder(mask_decoder, num_heads)
    return PointBatchDecoder(mask_decoder, num_heads)
