"""The image encoder on OpenVINO: exported once to ONNX by samkit, converted, optionally quantised
to int8 with NNCF on real photos, and kept on disk so later loads only compile (seconds or less).
Serves SAM 1's image encoder and SAM 2's image features alike (samkit.accel.encoder_graphs says
which graph a model gets).

Cache layout: ~/.cache/samkit/openvino/<hash>/encoder.xml + .bin, plus compiled-<precision>/
(OpenVINO's own compiled-blob cache, one folder per precision: with one shared folder OpenVINO
2026.4 gave a bf16 compile of the IR results mixed with the fp32 compile's, NaNs included, on
SAM 2; tests/accel checks it). The hash covers the model config, the graph's weights, the IR kind
(float, which fp32 and bf16 share, or int8), the calibration images and the OpenVINO version, so
a change to any of them builds anew.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from samkit.accel.encoder_graphs import EncoderGraph, encoder_graph

log = logging.getLogger("samkit")

PRECISIONS = ("bf16", "f32", "int8")  # int8: NNCF int8 weights + activations, the rest in bf16 where fast


def cache_root() -> Path:
    base = os.environ.get("SAMKIT_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                              os.path.expanduser("~/.cache"), "samkit")
    return Path(base) / "openvino"


def encoder_hash(model: nn.Module, ir_kind: str, calibration: list[np.ndarray] | None,
                 graph: EncoderGraph | None = None) -> str:
    import openvino

    graph = graph or encoder_graph(model)
    h = hashlib.sha256()
    version = "v1" if graph.family == "sam1" else f"{graph.family}-v1"  # SAM 1 keeps its earlier keys
    h.update(repr((getattr(model, "config", None), ir_kind, openvino.get_version(), version)).encode())
    for name, t in graph.module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    for pixels in calibration or []:
        h.update(hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).digest())
    return h.hexdigest()[:20]


def _build_ir(graph: EncoderGraph, precision: str, calibration: list[torch.Tensor] | None, out_dir: Path,
              float_ir: Path | None = None) -> None:
    """Export -> convert (-> NNCF int8) -> encoder.xml/.bin in out_dir, written via a temp folder.
    float_ir: the same model's cached float IR, if any: int8 quantises it instead of exporting again
    (the export is most of a build: minutes for a Hiera)."""
    import openvino as ov

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        onnx_path = None
        if float_ir is not None and float_ir.is_file():
            ov_model = ov.Core().read_model(str(float_ir))
        else:
            onnx_path = graph.export(tmp / "encoder.onnx")
            ov_model = ov.convert_model(str(onnx_path))
        if precision == "int8":
            import nncf

            data = nncf.Dataset([x.numpy() for x in calibration or []])
            ov_model = nncf.quantize(ov_model, data, subset_size=len(calibration or []),
                                     model_type=nncf.ModelType.TRANSFORMER)
        ov.save_model(ov_model, str(tmp / "encoder.xml"), compress_to_fp16=False)
        if onnx_path is not None:
            os.unlink(onnx_path)
        if out_dir.exists():  # another process finished first: keep theirs
            return
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


class OpenVinoEncoder:
    """Callable B x 3 x S x S (normalised, padded, fp32) -> what the graph's torch twin returns, fp32:
    SAM 1: the embedding B x C x h x w (like image_encoder); SAM 2: the list of backbone_fpn levels
    B x C_i x H_i x W_i, finest first (like forward_image's, high-res projections applied).

    The compiled model is for one image (1 x 3 x S x S); a batch runs image by image.
    `cold_build_s` says what the first build cost (0 when it came from the disk cache).
    """

    def __init__(self, model: nn.Module, precision: str = "bf16", calibration: list[torch.Tensor] | None = None,
                 threads: int | None = None) -> None:
        import time

        import openvino as ov

        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}; expected one of {PRECISIONS}")
        if precision == "int8" and not calibration:
            raise ValueError("int8 needs calibration images (normalised 1 x 3 x S x S tensors)")
        self.precision = precision
        graph = encoder_graph(model)
        self.family = graph.family
        self.img_size = graph.img_size
        # fp32 and bf16 compile the same float IR (the precision is a compile hint): one build serves both.
        ir_kind = "int8" if precision == "int8" else "float"
        key = encoder_hash(model, ir_kind, [x.numpy() for x in calibration] if calibration else None, graph)
        self.dir = cache_root() / key
        t0 = time.perf_counter()
        self.cold_build_s = 0.0
        if not (self.dir / "encoder.xml").is_file():
            log.warning("samkit: building the OpenVINO %s encoder once (cached in %s)", ir_kind, self.dir)
            float_ir = None
            if ir_kind == "int8":
                float_ir = cache_root() / encoder_hash(model, "float", None, graph) / "encoder.xml"
            _build_ir(graph, precision, calibration, self.dir, float_ir)
            self.cold_build_s = time.perf_counter() - t0
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "f32" if precision == "f32" else "bf16",
                  "PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": str(self.dir / f"compiled-{precision}")}
        if precision == "bf16" or precision == "int8":
            caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            if "BF16" not in caps:
                config["INFERENCE_PRECISION_HINT"] = "f32"
        config["INFERENCE_NUM_THREADS"] = int(threads or torch.get_num_threads())
        self.compiled = core.compile_model(str(self.dir / "encoder.xml"), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.load_s = time.perf_counter() - t0
        self._weights_key = weights_key(model)
        self._outputs = list(self.compiled.outputs)

    def serves(self, model: nn.Module, x: torch.Tensor) -> bool:
        """Whether this compiled encoder still is `model`'s (weights not changed since) for input x."""
        return (x.device.type == "cpu" and tuple(x.shape[1:]) == (3, self.img_size, self.img_size)
                and weights_key(model) == self._weights_key)

    def __call__(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        per_output: list[list[torch.Tensor]] = [[] for _ in self._outputs]
        for image in x.detach().to("cpu", torch.float32):
            result = self.request.infer({0: image[None].contiguous().numpy()})
            for i, out in enumerate(self._outputs):  # copies: the request reuses its output buffers
                per_output[i].append(torch.from_numpy(np.array(result[out], copy=True)))
        tensors = [torch.cat(outs).to(x.device) for outs in per_output]
        return tensors[0] if self.family == "sam1" else tensors


def weights_key(model: nn.Module) -> tuple:
    """Cheap identity of the graph's weights: changes when they are updated in place or replaced."""
    return tuple((p.data_ptr(), p._version) for p in encoder_graph(model).module.parameters())
