"""int8 dynamic quantisation of an exported decoder with onnxruntime.quantization.

Dynamic quantisation stores the MatMul/Gemm weights as 8-bit integers and quantises activations
on the fly, so it needs no calibration images. The transformer's linear layers hold most of the
decoder's weights, so the file shrinks about 4x; convolutions stay float.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path


def quantize_decoder(fp32_path: str | os.PathLike, int8_path: str | os.PathLike) -> Path:
    """Write an int8 (dynamic, per-tensor, unsigned weights) copy of the ONNX model at fp32_path."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=int8_path.name + ".", suffix=".tmp", dir=int8_path.parent)
    os.close(fd)
    fd, tmp_in = tempfile.mkstemp(prefix=int8_path.name + ".", suffix=".in.onnx", dir=int8_path.parent)
    os.close(fd)
    # The dynamo exporter records intermediate shapes (value_info) that onnx's strict shape
    # inference, which the quantiser runs, can disagree with; drop them and let it infer afresh.
    model = onnx.load(str(fp32_path))
    del model.graph.value_info[:]
    onnx.save(model, tmp_in)
    quant_logger = logging.getLogger("root")
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)  # it logs a pre-processing hint for every model
    try:
        quantize_dynamic(
            model_input=tmp_in,
            model_output=tmp,
            op_types_to_quantize=["MatMul", "Gemm"],
            per_channel=False,
            reduce_range=False,
            weight_type=QuantType.QUInt8,
        )
        os.replace(tmp, int8_path)
    finally:
        quant_logger.setLevel(level)
        for path in (tmp, tmp_in):
            if os.path.exists(path):
                os.unlink(path)
    return int8_path
