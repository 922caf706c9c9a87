"""CPU encoder paths: which one runs (path selection, measured per CPU kind), and the OpenVINO
backend (the `openvino` extra: bf16 or NNCF int8, compiled from samkit's own ONNX export and cached
on disk). load_model reaches this package lazily; the predictor only ever calls Sam.encode_images."""

from samkit.accel.cpu_paths import PATHS, EncoderPath, available_paths, choose_auto_path, resolve_encoder_path

__all__ = ["PATHS", "EncoderPath", "available_paths", "choose_auto_path", "resolve_encoder_path"]
