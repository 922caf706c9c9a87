"""The image encoder on OpenVINO: exported once to ONNX by samkit, converted, optionally quantised
to int8 with NNCF on real photos, and kept on disk so later loads only compile (seconds or less).

Cache layout: ~/.cache/samkit/openvino/<hash>/encoder.xml + .bin, plus compiled/ (OpenVINO's own
compiled-blob cache). The hash covers the encoder config, its weights, the precision, the
calibration images and the OpenVINO version, so a change to any of them builds anew.
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

log = logging.getLogger("samkit")

PRECISIONS = ("bf16", "f32", "int8")  # int8: NNCF int8 weights + activations, the rest in bf16 where fast


def cache_root() -> Path:
    base = os.environ.get("SAMKIT_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                              os.path.expanduser("~/.cache"), "samkit")
    return Path(base) / "openvino"


def encoder_hash(model: nn.Module, precision: str, calibration: list[np.ndarray] | None) -> str:
    import openvino

    h = hashlib.sha256()
    h.update(repr((getattr(model, "config", None), precision, openvino.get_version(), "v1")).encode())
    for name, t in model.image_encoder.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    for pixels in calibration or []:
        h.update(hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).digest())
    return h.hexdigest()[:20]


def _build_ir(model: nn.Module, precision: str, calibration: list[torch.Tensor] | None, out_dir: Path) -> None:
    """Export -> convert (-> NNCF int8) -> encoder.xml/.bin in out_dir, written via a temp folder."""
    import openvino as ov

    from samkit.export.encoder_export import export_image_encoder

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        onnx_path = export_image_encoder(model, tmp / "encoder.onnx")
        ov_model = ov.convert_model(str(onnx_path))
        if precision == "int8":
            import nncf

            data = nncf.Dataset([x.numpy() for x in calibration or []])
            ov_model = nncf.quantize(ov_model, data, subset_size=len(calibration or []),
                                     model_type=nncf.ModelType.TRANSFORMER)
        ov.save_model(ov_model, str(tmp / "encoder.xml"), compress_to_fp16=False)
        os.unlink(onnx_path)
        if out_dir.exists():  # another process finished first: keep theirs
            return
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


class OpenVinoEncoder:
    """Callable B x 3 x S x S (normalised, padded, fp32) -> B x C x h x w fp32, like image_encoder.

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
        self.img_size = int(model.image_encoder.img_size)
        key = encoder_hash(model, precision, [x.numpy() for x in calibration] if calibration else None)
        self.dir = cache_root() / key
        t0 = time.perf_counter()
        self.cold_build_s = 0.0
        if not (self.dir / "encoder.xml").is_file():
            log.warning("samkit: building the OpenVINO %s encoder once (cached in %s)", precision, self.dir)
            _build_ir(model, precision, calibration, self.dir)
            self.cold_build_s = time.perf_counter() - t0
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "f32" if precision == "f32" else "bf16",
                  "PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": str(self.dir / "compiled")}
        if precision == "bf16" or precision == "int8":
            caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            if "BF16" not in caps:
                config["INFERENCE_PRECISION_HINT"] = "f32"
        config["INFERENCE_NUM_THREADS"] = int(threads or torch.get_num_threads())
        self.compiled = core.compile_model(str(self.dir / "encoder.xml"), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.load_s = time.perf_counter() - t0
        self._weights_key = weights_key(model)

    def serves(self, model: nn.Module, x: torch.Tensor) -> bool:
        """Whether this compiled encoder still is `model`'s (weights not changed since) for input x."""
        return (x.device.type == "cpu" and tuple(x.shape[1:]) == (3, self.img_size, self.img_size)
                and weights_key(model) == self._weights_key)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for image in x.detach().to("cpu", torch.float32):
            result = self.request.infer({0: image[None].contiguous().numpy()})
            outs.append(torch.from_numpy(np.array(result[0], copy=True)))
        return torch.cat(outs).to(x.device)


def weights_key(model: nn.Module) -> tuple:
    """Cheap identity of the encoder weights: changes when they are updated in place or replaced."""
    return tuple((p.data_ptr(), p._version) for p in model.image_encoder.parameters())
