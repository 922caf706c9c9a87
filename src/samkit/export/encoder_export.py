"""Optional export of the image encoder, with SAM's normalisation and padding inside the graph.

    input_image       f32 [H, W, 3]        RGB, 0..255, already resized so that max(H, W) equals
                                           img_size (ResizeLongestSide.apply_image); H and W are
                                           symbolic
->
    image_embeddings  f32 [1, C, h, w]     feed straight into the decoder's image_embeddings

`export_image_encoder` writes the bare encoder instead (1 x 3 x S x S normalised, padded input ->
1 x C x h x w), the form a runtime backend (samkit.accel's OpenVINO encoder) plugs in behind
Sam.encode_images.

Resizing stays outside: PIL's antialiased bilinear resize, which the reference uses, has no exact
ONNX equivalent, and any difference there would move every mask.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samkit.export.decoder_export import DEFAULT_OPSET, as_cpu_fp32, export_context, save_atomically


class SamOnnxEncoder(nn.Module):
    """Normalise (pixel mean/std), pad bottom/right to img_size x img_size, run the image encoder."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.image_encoder = model.image_encoder
        self.img_size = int(model.image_encoder.img_size)
        self.register_buffer("pixel_mean", model.pixel_mean.detach().reshape(3, 1, 1).clone(), persistent=False)
        self.register_buffer("pixel_std", model.pixel_std.detach().reshape(3, 1, 1).clone(), persistent=False)

    @torch.no_grad()
    def forward(self, input_image: torch.Tensor) -> torch.Tensor:
        x = input_image.permute(2, 0, 1)
        x = (x - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        x = F.pad(x, (0, self.img_size - w, 0, self.img_size - h))
        return self.image_encoder(x.unsqueeze(0))


def export_encoder(model: nn.Module, output_path: str | os.PathLike, *, opset: int = DEFAULT_OPSET) -> Path:
    """Write the ONNX image encoder of `model` to output_path (atomically). Returns the path."""
    wrapper = SamOnnxEncoder(as_cpu_fp32(model)).eval()
    size = wrapper.img_size
    # A non-square example keeps both sides symbolic (a square one would tie H and W together).
    example = torch.rand(size * 3 // 4, size, 3) * 255
    h = torch.export.Dim("input_h", min=1, max=size)
    w = torch.export.Dim("input_w", min=1, max=size)
    with export_context(), attention_kernel(wrapper, "dense"):
        program = torch.onnx.export(
            wrapper, (example,), dynamo=True, input_names=["input_image"], output_names=["image_embeddings"],
            dynamic_shapes={"input_image": {0: h, 1: w}}, opset_version=opset, optimize=True, verbose=False,
        )
    cfg = getattr(model, "config", None)
    metadata = {"samkit.kind": "image-encoder", "samkit.model": getattr(cfg, "name", type(model).__name__),
                "samkit.img_size": str(size)}
    return save_atomically(program, Path(output_path), metadata)


@contextmanager
def attention_kernel(module: nn.Module, kernel: str):
    """Force the rel-pos attention kernel (samkit.modeling.relpos_kernels) of every block while tracing."""
    attns = [m for m in module.modules() if hasattr(m, "kernel") and hasattr(m, "use_rel_pos")]
    before = [m.kernel for m in attns]
    for m in attns:
        m.kernel = kernel
    try:
        yield
    finally:
        for m, k in zip(attns, before):
            m.kernel = k


def export_image_encoder(model: nn.Module, output_path: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                         attention: str = "dense") -> Path:
    """Write `model.image_encoder` alone to ONNX: x f32 [1, 3, S, S] -> image_embeddings f32 [1, C, h, w].

    The rel-pos attention is traced in the reference's dense form by default: graph runtimes fuse
    matmul + bias + softmax themselves, and the folded form would give them 3x the attention FLOPs.
    """
    encoder = as_cpu_fp32(model).image_encoder.eval()
    size = int(encoder.img_size)
    example = torch.zeros(1, 3, size, size)
    with export_context(), attention_kernel(encoder, attention), torch.no_grad():
        program = torch.onnx.export(
            encoder, (example,), dynamo=True, input_names=["x"], output_names=["image_embeddings"],
            opset_version=opset, optimize=True, verbose=False,
        )
    cfg = getattr(model, "config", None)
    metadata = {"samkit.kind": "image-encoder-core", "samkit.model": getattr(cfg, "name", type(model).__name__),
                "samkit.img_size": str(size)}
    return save_atomically(program, Path(output_path), metadata)


@torch.no_grad()
def check_encoder_parity(model: nn.Module, onnx_path: str | os.PathLike, input_hws=None, seed: int = 0) -> float:
    """Max abs difference between the ONNX encoder and `image_encoder(preprocess(x))` over input sizes."""
    from samkit.export.parity import onnx_session

    model = model.eval()
    size = int(model.image_encoder.img_size)
    input_hws = input_hws or [(size * 3 // 4, size), (size, size // 2), (size, size)]
    session = onnx_session(onnx_path)
    rng = np.random.default_rng(seed)
    worst = 0.0
    dev = next(model.parameters()).device
    for hw in input_hws:
        image = (rng.random((*hw, 3)) * 255).astype(np.float32)
        got = session.run(None, {"input_image": image})[0]
        x = torch.as_tensor(image, device=dev).permute(2, 0, 1)[None]
        want = model.image_encoder(model.preprocess(x)).cpu().numpy()
        worst = max(worst, float(np.abs(got - want).max()))
    return worst
