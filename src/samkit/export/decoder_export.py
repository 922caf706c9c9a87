"""Export the promptable decoder (`SamOnnxDecoder`) to an ONNX file with torch's dynamo exporter.

torch 2.13's legacy TorchScript exporter freezes the reshape sizes inside attention and the crop
size of the postprocessing to the traced example, which silently breaks other point counts and
aspect ratios. The dynamo exporter (`torch.onnx.export(..., dynamo=True)`) keeps the point count
symbolic through `dynamic_shapes` and the crop/upscale sizes symbolic through data-dependent sizes.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import onnx
import torch
from torch import nn

from samkit.export.decoder_model import SamOnnxDecoder

INPUT_NAMES = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"]
DEFAULT_OPSET = 18  # opset 18 runs in onnxruntime >= 1.14 and onnxruntime-web alike
MAX_POINTS = 1024


def example_inputs(model: nn.Module, num_points: int = 5) -> tuple[torch.Tensor, ...]:
    """Dummy decoder inputs for `model` (shapes from its modules; values only need to be valid)."""
    img_size = int(model.image_encoder.img_size)
    embed_dim = int(model.prompt_encoder.embed_dim)
    h, w = (int(s) for s in model.prompt_encoder.image_embedding_size)
    gen = torch.Generator().manual_seed(0)
    return (
        torch.randn(1, embed_dim, h, w, generator=gen),
        torch.rand(1, num_points, 2, generator=gen) * img_size,
        torch.randint(-1, 4, (1, num_points), generator=gen).to(torch.float32),
        torch.randn(1, 1, 4 * h, 4 * w, generator=gen),
        torch.tensor([1.0]),
        torch.tensor([img_size * 0.75, float(img_size)]),
    )


@contextmanager
def export_context():
    """Quiet exporter logs, and the math attention kernel while tracing.

    With the fused SDPA kernels, tracing records their output strides (heads innermost); the
    exporter then decomposes SDPA into math ops with other strides, and a later
    `transpose(1, 2).reshape(...)` in the model becomes an impossible view (TinyViT's attention
    fails that way). Tracing with the math kernel keeps the recorded strides true.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with quiet_exporter(), sdpa_kernel([SDPBackend.MATH]):
        yield


@contextmanager
def quiet_exporter():
    """The dynamo exporter prints progress lines, warns about the absent torchvision ops, and onnx_ir
    logs a warning per empty attribute list (harmless: they default to INTS, which is right here)."""
    names = ("torch.onnx", "torch.onnx._internal.exporter._registration", "onnx_ir", "onnxscript")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_decoder(
    model: nn.Module,
    output_path: str | os.PathLike,
    *,
    single_mask: bool = False,
    stability_output: bool = True,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write the ONNX decoder of `model` (samkit or reference Sam, fp32, any device) to output_path.

    The file is written atomically (temporary file in the same folder, then renamed), so a reader
    never sees half a model. Returns the path.
    """
    output_path = Path(output_path)
    wrapper = SamOnnxDecoder(as_cpu_fp32(model), single_mask=single_mask, stability_output=stability_output).eval()
    num_points = torch.export.Dim("num_points", min=1, max=MAX_POINTS)
    dynamic_shapes = {
        "image_embeddings": None,
        "point_coords": {1: num_points},
        "point_labels": {1: num_points},
        "mask_input": None,
        "has_mask_input": None,
        "orig_im_size": None,
    }
    with export_context():
        program = torch.onnx.export(
            wrapper,
            example_inputs(model),
            dynamo=True,
            input_names=INPUT_NAMES,
            output_names=wrapper.output_names,
            dynamic_shapes=dynamic_shapes,
            opset_version=opset,
            optimize=True,
            verbose=False,
        )
    cfg = getattr(model, "config", None)
    metadata = {
        "samkit.kind": "decoder-single-mask" if single_mask else "decoder",
        "samkit.model": getattr(cfg, "name", type(model).__name__),
        "samkit.img_size": str(wrapper.img_size),
        "samkit.mask_threshold": str(wrapper.mask_threshold),
        "samkit.point_coords_frame": "model input: original pixels * img_size / max(H, W); +0.5 added inside",
    }
    return save_atomically(program, output_path, metadata)


def as_cpu_fp32(model: nn.Module) -> nn.Module:
    """The export traces on CPU in float32 (the ONNX file's dtype); leave the caller's model alone."""
    params = list(model.parameters())
    if params and (params[0].device.type != "cpu" or params[0].dtype != torch.float32):
        import copy

        model = copy.deepcopy(model).to(device="cpu", dtype=torch.float32)
    return model.eval()


def _name_dynamic_axes(proto) -> None:
    """Give the symbolic sizes readable names (the exporter calls them s0, u10, ...)."""
    for value in proto.graph.input:
        if value.name in ("point_coords", "point_labels"):
            dim = value.type.tensor_type.shape.dim[1]
            if not dim.HasField("dim_value"):
                dim.dim_param = "num_points"
    names = {"masks": (None, None, "orig_h", "orig_w")}
    for value in proto.graph.output:
        wanted = names.get(value.name)
        if not wanted:
            continue
        for dim, name in zip(value.type.tensor_type.shape.dim, wanted):
            if name and not dim.HasField("dim_value"):
                dim.dim_param = name


def save_atomically(program, output_path: Path, metadata: dict[str, str] | None = None, rewrite=None) -> Path:
    """Save an ONNXProgram via a temporary file in the same folder, with readable axis names and
    `metadata` in the model's metadata_props (what a front-end can read to configure itself).
    `rewrite(proto)`, when given, edits the ModelProto in place before it is written."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=output_path.name + ".", suffix=".tmp", dir=output_path.parent)
    os.close(fd)
    try:
        program.save(tmp)
        proto = onnx.load(tmp)
        _name_dynamic_axes(proto)
        if rewrite is not None:
            rewrite(proto)
        for key, value in (metadata or {}).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, tmp)
        os.replace(tmp, output_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return output_path
