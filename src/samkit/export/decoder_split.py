"""The page's fast decoder: SAM's decoder split into a once-per-image graph and a per-click graph.

The official-interface decoder (decoder_model.py) recomputes, on every click, work that depends only
on the image: the no-mask dense embedding added to the embedding, the dense positional encoding, and
the key/value/query projections of the 4096 image tokens in the first two-way block (3 x 4096 x 256 x
128 multiply-adds, as much as the rest of the transformer), plus the mask-prompt convolutions on an
all-zero mask. The split moves them out of the click:

    image graph   image_embeddings f32 [1, C, h, w]
                  -> side_img [N, C]  (embedding + no-mask embedding, position-major; N = h*w)
                     side_pe  [N, C]  (dense positional encoding, position-major)
                     side_k1, side_v1, side_q1 [H, N, d]  (block-1 projections; H heads, d head dim)
                     side_up1 [N, 4*C4]  (the first upscaling convolution's image-only part, upscale_fold.py)
    prompt graph  point_coords f32 [1, P, 2], point_labels f32 [1, P] (the official meaning: model-
                  input frame, padding point labelled -1), orig_im_size f32 [2] (H, W), + the five
                  side tensors
                  -> low_res_masks [1, 4, 4h, 4w] logits (mask 0 single, 1..3 ambiguity-aware),
                     iou_predictions [1, 4]

The prompt graph computes `SamOnnxDecoder` with has_mask_input = 0 (the page never sends a mask
input): the same folded evaluation (inference/point_decoder.py), with `prepare` hoisted, and two
savings measured in the page (docs/benchmarks.md): the mask upscaling (two transposed convolutions,
~half the per-click FLOPs) runs only over the embedding cells under the image (+1 for the bilinear
taps at its edge; a 4:3 image skips a quarter), the rest of low_res_masks is PAD_LOGIT; the first
transposed convolution is folded through the LayerNorms (upscale_fold.py), so a click multiplies the
image tokens by the few per-click vectors instead of by its 256 x 256 weight; and the exact-erf GELUs
are fused (onnx_fusions.py). Outputs are only what the page reads: it upscales the
one mask it shows itself (web/src/upscale.ts), which never reads the skipped cells.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from samkit.export.decoder_export import DEFAULT_OPSET, MAX_POINTS, as_cpu_fp32, export_context, save_atomically
from samkit.export.decoder_model import SamOnnxDecoder
from samkit.export.onnx_fusions import fuse_gelu
from samkit.export.quantize import quantize_decoder
from samkit.export.upscale_fold import RecordingPointDecoder, folded_conv1, image_part, unfolded_conv1
from samkit.inference.point_decoder import ImageSide, _mlp

SIDE_NAMES = ["side_img", "side_pe", "side_k1", "side_v1", "side_q1", "side_up1"]
PROMPT_INPUTS = ["point_coords", "point_labels", "orig_im_size", *SIDE_NAMES]
PROMPT_OUTPUTS = ["low_res_masks", "iou_predictions"]
# Logit written where the upscaling is skipped (embedding cells beyond the image, never read): far
# below any threshold, so a mask never reaches into the padding.
PAD_LOGIT = -32.0


class SamImageSideOnnx(nn.Module):
    """image_embeddings 1 x C x h x w -> the five per-image tensors the prompt graph reads."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.core = SamOnnxDecoder(model, stability_output=False)

    @torch.no_grad()
    def forward(self, image_embeddings: torch.Tensor):
        pe = self.core.prompt_encoder
        dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1)
        side = self.core.folded.prepare(image_embeddings, pe.get_dense_pe(), dense)
        return side.img[0], side.pe[0], side.k1, side.v1, side.q1, image_part(self.core.mask_decoder, side.img[0])


class SamPromptOnnx(nn.Module):
    """Points + per-image tensors -> all four low-res masks and their predicted IoUs."""

    def __init__(self, model: nn.Module, crop_upscaling: bool = True, fold_upscaling: bool = True) -> None:
        super().__init__()
        self.core = SamOnnxDecoder(model, stability_output=False)
        self.hw = tuple(int(s) for s in model.prompt_encoder.image_embedding_size)
        # False only to measure what each step saves (benchmarks/decoder_steps.py).
        self.crop_upscaling, self.fold_upscaling = crop_upscaling, fold_upscaling
        self.folded = RecordingPointDecoder(model.mask_decoder, model.mask_decoder.transformer.num_heads)

    @torch.no_grad()
    def forward(self, point_coords, point_labels, orig_im_size, side_img, side_pe, side_k1, side_v1, side_q1,
                side_up1):
        sparse = self.core._embed_points(point_coords, point_labels)
        side = ImageSide(img=side_img.unsqueeze(0), pe=side_pe.unsqueeze(0), k1=side_k1, v1=side_v1, q1=side_q1,
                         hw=self.hw)
        self.folded.records = []
        out = self.folded.transformer(side, sparse)
        rows, cols = self._valid_cells(orig_im_size) if self.crop_upscaling else self.hw
        low_res = self._masks(side, out, rows, cols, side_up1)
        return low_res, torch.cat([out.iou_single, out.iou_pred], dim=1)

    def _valid_cells(self, orig_im_size: torch.Tensor) -> tuple[int, int]:
        """Embedding rows/cols whose upscaled logits the page can read: those under the resized image
        plus one (bilinear taps at the crop's edge reach one low-res pixel past it)."""
        img_size, (h, w) = self.core.img_size, self.hw
        orig_hw = orig_im_size.to(torch.float32)
        input_hw = torch.floor(orig_hw * (img_size / torch.max(orig_hw)) + 0.5).clamp(min=1).to(torch.int64)
        cells = torch.minimum((input_hw + (img_size // h - 1)) // (img_size // h) + 1, torch.tensor([h, w]))
        rows, cols = cells[0].item(), cells[1].item()
        torch._check(rows >= 1)
        torch._check(rows <= h)
        torch._check(cols >= 1)
        torch._check(cols <= w)
        return rows, cols

    def _masks(self, side: ImageSide, out, rows: int, cols: int, side_up1: torch.Tensor) -> torch.Tensor:
        """All four masks' low-res logits, 1 x 4 x 4h x 4w; upscaled only over rows x cols cells (each
        stride-2 transposed convolution output depends on one input cell only), PAD_LOGIT elsewhere.
        The first convolution is folded (upscale_fold.py): its image-only part comes in as side_up1."""
        folded, tf, dec = self.folded, self.folded.tf, self.core.mask_decoder
        sel = list(range(1, 1 + folded.n_mask_tokens))
        q = out.queries[:, sel]
        attn = folded._token_to_image(tf.final_attn_token_to_image, q + out.tok_pe[:, sel], out.keys, pe=side.pe)
        q = F.layer_norm(q + attn, (q.shape[-1],), tf.norm_final_attn.weight, tf.norm_final_attn.bias)
        hyper = torch.stack([_mlp(dec.output_hypernetworks_mlps[t - 1], q[:, i]) for i, t in enumerate(sel)], dim=1)
        h, w = self.hw
        c = out.keys.shape[-1]
        up = dec.output_upscaling
        conv1, ln1, conv2 = up[0], up[1], up[3]
        c4, c8 = conv1.weight.shape[1], conv2.weight.shape[1]
        if self.fold_upscaling:
            x = folded_conv1(dec, folded.records, side_up1, self.hw, rows, cols)
        else:
            x = unfolded_conv1(dec, out.keys.view(1, h, w, c)[:, :rows, :cols].reshape(1, rows * cols, c))
        x = x.view(1, rows * cols, 4, c4)
        x = F.gelu(F.layer_norm(x, (c4,), ln1.weight, ln1.bias, getattr(ln1, "eps", 1e-6)))
        w2 = conv2.weight.permute(0, 2, 3, 1).reshape(c4, 4 * c8)  # C4 x (ky2, kx2, c8)
        x = F.gelu(torch.matmul(x, w2).view(1, rows * cols * 16, c8) + conv2.bias)
        m = torch.matmul(x, hyper.transpose(1, 2))  # 1 x (y, x, ky, kx, ky2, kx2) x 4
        m = m.view(1, rows, cols, 2, 2, 2, 2, -1).permute(0, 7, 1, 3, 5, 2, 4, 6).reshape(1, -1, 4 * rows, 4 * cols)
        return F.pad(m, (0, 4 * (w - cols), 0, 4 * (h - rows)), value=PAD_LOGIT)


def side_example(model: nn.Module, image_embeddings: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The per-image tensors for `image_embeddings` (PyTorch), in SIDE_NAMES order."""
    return SamImageSideOnnx(model).eval()(image_embeddings)


def export_split_decoder(model: nn.Module, image_path: str | os.PathLike, prompt_path: str | os.PathLike, *,
                         quantize: bool = False, opset: int = DEFAULT_OPSET, fuse: bool = True,
                         crop_upscaling: bool = True, fold_upscaling: bool = True) -> tuple[Path, Path]:
    """Write the image graph and the prompt graph of `model` (a samkit or reference SAM 1 Sam).

    quantize: int8 dynamic MatMul weights in the prompt graph (quantize.py; the image graph runs once
    per image and stays fp32). Both files are written atomically. Returns (image_path, prompt_path).
    fuse=False / crop_upscaling=False / fold_upscaling=False leave out those steps
    (benchmarks/decoder_steps.py measures them).
    """
    image_path, prompt_path = Path(image_path), Path(prompt_path)
    model = as_cpu_fp32(model)
    c = int(model.prompt_encoder.embed_dim)
    h, w = (int(s) for s in model.prompt_encoder.image_embedding_size)
    embedding = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(0))
    image_graph, prompt_graph = SamImageSideOnnx(model).eval(), SamPromptOnnx(model, crop_upscaling, fold_upscaling).eval()
    cfg = getattr(model, "config", None)
    meta = {"samkit.model": getattr(cfg, "name", type(model).__name__), "samkit.img_size": str(image_graph.core.img_size),
            "samkit.mask_threshold": str(image_graph.core.mask_threshold)}
    num_points = torch.export.Dim("num_points", min=1, max=MAX_POINTS)
    with export_context():
        program = torch.onnx.export(image_graph, (embedding,), dynamo=True, input_names=["image_embeddings"],
                                    output_names=SIDE_NAMES, opset_version=opset, optimize=True, verbose=False)
        save_atomically(program, image_path, {**meta, "samkit.kind": "decoder-image-side"})
        side = image_graph(embedding)
        size = float(image_graph.core.img_size)
        example = (torch.rand(1, 2, 2, generator=torch.Generator().manual_seed(1)) * size,
                   torch.tensor([[1.0, -1.0]]), torch.tensor([0.75 * size, size]), *side)
        shapes = {"point_coords": {1: num_points}, "point_labels": {1: num_points}, "orig_im_size": None,
                  **{name: None for name in SIDE_NAMES}}
        program = torch.onnx.export(prompt_graph, example, dynamo=True, input_names=PROMPT_INPUTS,
                                    output_names=PROMPT_OUTPUTS, dynamic_shapes=shapes, opset_version=opset,
                                    optimize=True, verbose=False)
    prompt_meta = {**meta, "samkit.kind": "decoder-prompt", "samkit.quantized": str(quantize).lower(),
                   "samkit.point_coords_frame": "model input: original pixels * img_size / max(H, W); +0.5 added inside"}
    if not quantize:
        save_atomically(program, prompt_path, prompt_meta, rewrite=fuse_gelu if fuse else None)
        return image_path, prompt_path
    # The quantiser's shape inference does not know com.microsoft ops: quantise first, fuse after.
    fp32 = prompt_path.with_name(prompt_path.name + ".fp32.tmp")
    try:
        save_atomically(program, fp32, prompt_meta)
        quantize_decoder(fp32, prompt_path)
        if fuse:
            proto = onnx.load(str(prompt_path))
            fuse_gelu(proto)
            _save_proto_atomically(proto, prompt_path)
    finally:
        fp32.unlink(missing_ok=True)
    return image_path, prompt_path


def _save_proto_atomically(proto, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        onnx.save(proto, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
