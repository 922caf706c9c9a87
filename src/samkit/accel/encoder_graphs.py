"""What the OpenVINO encoder runs for each model family: the image-only part of the model, as a
graph from one normalised image to the feature maps the rest of the model reads.

- SAM 1 (Sam): `image_encoder`, x 1 x 3 x S x S (S = image_encoder.img_size, padded) -> the
  embedding 1 x C x h x w. Exported by samkit.export (rel-pos attention in the dense form).
- SAM 2 (SAM2Base): everything forward_image computes from the pixels: the Hiera trunk, the FPN
  neck and, with high-res features, the decoder's conv_s0 / conv_s1 projections of levels 0 and 1;
  x 1 x 3 x S x S (S = image_size) -> the backbone_fpn levels, finest first. The position
  encodings depend only on the map sizes, so they stay out of the graph (torch's cached ones).

`module` holds the weights the graph bakes in: its state dict keys the disk cache, its parameters
tell a compiled graph that no longer matches the model (training, load_state_dict).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class EncoderGraph:
    family: str  # "sam1" or "sam2"
    img_size: int  # the graph's input is 1 x 3 x img_size x img_size
    module: nn.Module  # the graph's torch twin (shares the model's weights)
    export: Callable[[Path], Path]  # writes the ONNX graph to the given path


class Sam2ImageFeatures(nn.Module):
    """SAM 2's image-only features: 1 x 3 x S x S -> tuple of backbone_fpn levels (finest first),
    as SAM2Base.forward_image returns them in fp32 (conv_s0 / conv_s1 already applied when the
    model uses high-res features)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.image_encoder = model.image_encoder
        self.conv_s = None
        if model.use_high_res_features_in_sam:
            self.conv_s = nn.ModuleList([model.sam_mask_decoder.conv_s0, model.sam_mask_decoder.conv_s1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        levels = list(self.image_encoder(x)["backbone_fpn"])
        if self.conv_s is not None:
            levels[0] = self.conv_s[0](levels[0])
            levels[1] = self.conv_s[1](levels[1])
        return tuple(levels)


def encoder_graph(model: nn.Module) -> EncoderGraph:
    """The EncoderGraph of a samkit Sam or SAM2Base."""
    if hasattr(model, "forward_image") and hasattr(model, "sam_mask_decoder"):
        size = int(model.image_size)
        return EncoderGraph("sam2", size, Sam2ImageFeatures(model), lambda path: _export_sam2(model, path, size))
    return EncoderGraph("sam1", int(model.image_encoder.img_size), model.image_encoder,
                        lambda path: _export_sam1(model, path))


def _export_sam1(model: nn.Module, output_path: str | os.PathLike) -> Path:
    from samkit.export.encoder_export import export_image_encoder  # onnx is imported only to build

    return export_image_encoder(model, output_path)


def _export_sam2(model: nn.Module, output_path: str | os.PathLike, size: int) -> Path:
    """Trace Sam2ImageFeatures with torch's dynamo ONNX exporter (fixed 1 x 3 x S x S input)."""
    from samkit.export.decoder_export import DEFAULT_OPSET, as_cpu_fp32, export_context, save_atomically

    graph = Sam2ImageFeatures(as_cpu_fp32(model)).eval()
    example = torch.zeros(1, 3, size, size)
    with export_context(), torch.no_grad():
        program = torch.onnx.export(graph, (example,), dynamo=True, input_names=["x"],
                                    opset_version=DEFAULT_OPSET, optimize=True, verbose=False)
    cfg = getattr(model, "config", None)
    metadata = {"samkit.kind": "sam2-image-features", "samkit.model": getattr(cfg, "name", type(model).__name__),
                "samkit.img_size": str(size)}
    return save_atomically(program, Path(output_path), metadata)
