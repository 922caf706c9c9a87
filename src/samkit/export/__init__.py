"""ONNX export of SAM's promptable decoder (official input/output names) and image encoder,
int8 dynamic quantisation, and parity checks against PyTorch. Needs the `onnx` extra."""

from samkit.export.decoder_export import export_decoder
from samkit.export.decoder_model import SamOnnxDecoder
from samkit.export.encoder_export import SamOnnxEncoder, check_encoder_parity, export_encoder
from samkit.export.parity import ParityReport, check_decoder_parity, mask_iou_between
from samkit.export.quantize import quantize_decoder

__all__ = [
    "SamOnnxDecoder", "SamOnnxEncoder", "ParityReport", "export_decoder", "export_encoder",
    "check_decoder_parity", "check_encoder_parity", "mask_iou_between", "quantize_decoder",
]
