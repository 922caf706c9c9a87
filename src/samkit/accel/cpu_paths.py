"""Which encoder path runs: torch fp32/bf16 or OpenVINO bf16/fp32/int8, chosen per CPU kind.

Serves SAM 1 (the image encoder behind Sam.encode_images) and SAM 2 (the image features behind
SAM2Base.forward_image: set_image, the automatic mask generator and the video predictor per frame).
Measurements are kept per model name, so each SAM 2 preset is chosen on its own timings.

`dtype="auto"` takes the fastest path measured on this CPU (benchmarks/bench_cpu_paths.py records
its medians in ~/.cache/samkit/cpu_paths.json, keyed by CPU model, flags, torch and OpenVINO
versions); without a measurement, rules from the measured CPU kinds decide (docs/benchmarks.md):
fast bf16 (AMX, or AVX-512 bf16 on AMD) -> OpenVINO bf16 when the extra is installed (it was the
fastest on both kinds), else torch bf16; no fast bf16 -> torch fp32. Every path keeps masks within IoU 0.99 (mean) of fp32; int8 is
never picked by "auto", only asked for. When the openvino extra is absent a path that needs it
falls back to torch with a one-line notice.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from samkit.cpu_features import cpu_features
from samkit.errors import InputError

log = logging.getLogger("samkit")


@dataclass(frozen=True)
class EncoderPath:
    name: str
    runtime: str  # "torch" or "openvino"
    precision: str  # "fp32", "bf16" or "int8"


PATHS = {p.name: p for p in (
    EncoderPath("torch-fp32", "torch", "fp32"),
    EncoderPath("torch-bf16", "torch", "bf16"),
    EncoderPath("openvino-fp32", "openvino", "fp32"),
    EncoderPath("openvino-bf16", "openvino", "bf16"),
    EncoderPath("openvino-int8", "openvino", "int8"),
)}
AUTO_CANDIDATES = ("torch-fp32", "torch-bf16", "openvino-fp32", "openvino-bf16")  # int8 only when asked


def openvino_available(int8: bool = False) -> bool:
    try:
        import openvino  # noqa: F401
        import onnxscript  # noqa: F401  (samkit's ONNX export feeds the OpenVINO build)
        if int8:
            import nncf  # noqa: F401
    except ImportError:
        return False
    return True


def available_paths() -> list[str]:
    names = ["torch-fp32"]
    if cpu_features().has_fast_bf16:
        names.append("torch-bf16")
    if openvino_available():
        names += ["openvino-fp32", "openvino-bf16"]
        if openvino_available(int8=True):
            names.append("openvino-int8")
    return names


def measurements_file() -> Path:
    base = os.environ.get("SAMKIT_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                              os.path.expanduser("~/.cache"), "samkit")
    return Path(base) / "cpu_paths.json"


def cpu_key() -> str:
    try:
        import openvino
        ov = openvino.get_version().split("-")[0]
    except ImportError:
        ov = "none"
    f = cpu_features()
    return f"{f.model_name} | {f.kind} | torch {torch.__version__} | openvino {ov}"


def record_measurement(model_name: str, seconds: dict[str, float]) -> Path:
    """Store median set_image seconds per path for this CPU (atomically); "auto" reads them back."""
    path = measurements_file()
    data = read_measurements()
    data.setdefault(cpu_key(), {})[model_name] = {"seconds": seconds, "when": time.strftime("%Y-%m-%d %H:%M")}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="cpu_paths.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)
    return path


def read_measurements() -> dict:
    try:
        return json.loads(measurements_file().read_text())
    except (OSError, ValueError):
        return {}


def choose_auto_path(device: torch.device, model_name: str | None = None) -> tuple[str, str]:
    """(path name, why) for dtype="auto" on `device`."""
    if device.type != "cpu":
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return ("torch-bf16" if bf16 else "torch-fp32"), f"{device.type}: bf16 supported={bf16}"
    available = available_paths()
    measured = read_measurements().get(cpu_key(), {})
    entry = measured.get(model_name or "")  # a measurement holds for the model it timed only
    if entry:
        timed = {k: v for k, v in entry["seconds"].items() if k in available and k in AUTO_CANDIDATES}
        if timed:
            best = min(timed, key=timed.get)
            return best, f"fastest measured on this CPU ({timed[best]:.2f} s, {entry['when']})"
    f = cpu_features()
    if f.has_fast_bf16:
        if "openvino-bf16" in available:
            return "openvino-bf16", f"{f.kind}: OpenVINO bf16 (measured fastest on both AMX and AVX-512-bf16 CPUs)"
        return "torch-bf16", f"{f.kind} (openvino extra absent): torch bf16"
    return "torch-fp32", "no fast bf16 on this CPU"


def resolve_encoder_path(model: nn.Module, path: str, device: torch.device,
                         calibration_images: list | None = None) -> str:
    """Set up `model` (a samkit Sam or SAM2Base) to encode through `path`; returns the path actually used.

    Sets model.encoder_dtype (torch's autocast dtype, or the backend's precision for the embedding
    cache's fingerprint) and model.encoder_backend (None for torch paths).
    """
    if path not in PATHS:
        raise InputError(f"unknown encoder path {path!r}; expected one of {', '.join(PATHS)}")
    spec = PATHS[path]
    model.encoder_backend = None
    if spec.runtime == "openvino":
        if device.type != "cpu":
            raise InputError(f"the OpenVINO encoder runs on CPU, not {device}")
        if not openvino_available(int8=spec.precision == "int8"):
            fallback = "torch-bf16" if cpu_features().has_fast_bf16 else "torch-fp32"
            log.warning("samkit: %s needs `pip install samkit[openvino]`; using %s", path, fallback)
            return resolve_encoder_path(model, fallback, device)
        from samkit.accel.openvino_encoder import OpenVinoEncoder

        calibration = None
        if spec.precision == "int8":
            from samkit.accel.int8_calibration import calibration_tensors

            calibration = calibration_tensors(model, calibration_images)
        try:
            model.encoder_backend = OpenVinoEncoder(model, {"fp32": "f32"}.get(spec.precision, spec.precision),
                                                    calibration)
        except Exception as e:  # a failed export/convert/compile must not cost the user their model
            fallback = "torch-bf16" if cpu_features().has_fast_bf16 else "torch-fp32"
            log.warning("samkit: the OpenVINO encoder could not be built (%s: %s); using %s",
                        type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "", fallback)
            return resolve_encoder_path(model, fallback, device)
        model.encoder_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.int8}[spec.precision]
        return path
    model.encoder_dtype = torch.bfloat16 if spec.precision == "bf16" else torch.float32
    return path
