"""AMG's grid-point decoder precision (decoder_precision.py): which dtype is chosen, the bf16
decoder keeps the fp32 decoder's masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

import samkit.cpu_features as cpu_features_mod
from samkit import InputError
from samkit.automatic import SamAutomaticMaskGenerator, decoder_precision
from samkit.cpu_features import CpuFeatures

NMS_OFF = dict(pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0, output_mode="coco_rle")


def _fake_cpu(monkeypatch, flags: set[str]) -> None:
    monkeypatch.setattr(cpu_features_mod, "cpu_features", lambda: CpuFeatures("test CPU", frozenset(flags)))


def test_dtype_follows_the_encoder_and_the_cpu(tiny_twins, monkeypatch):
    model = tiny_twins[1]
    resolve = decoder_precision.resolve_decoder_dtype
    try:
        _fake_cpu(monkeypatch, {"amx_bf16", "avx512f"})
        assert resolve(model, None) == torch.float32  # an fp32 model keeps the fp32 decoder
        for enc in (torch.bfloat16, torch.int8):
            model.encoder_dtype = enc
            assert resolve(model, None) == torch.bfloat16
        assert resolve(model, "float32") == torch.float32 and resolve(model, torch.float32) == torch.float32
        _fake_cpu(monkeypatch, {"avx2"})  # no fast bf16: bf16 matmuls would be slow
        assert resolve(model, None) == torch.float32
        assert resolve(model, "bf16") == torch.bfloat16  # asked for explicitly
        with pytest.raises(InputError, match="decoder_dtype"):
            resolve(model, "float16")
        with pytest.raises(InputError, match="decoder_dtype"):
            SamAutomaticMaskGenerator(model, decoder_dtype=torch.float16)
    finally:
        model.encoder_dtype = torch.float32


def _ious(a: list[dict], b: list[dict]) -> np.ndarray:
    def rle(s):
        return {"size": s["size"], "counts": s["counts"].encode()}

    m = mask_utils.iou([rle(r["segmentation"]) for r in a], [rle(r["segmentation"]) for r in b], [0] * len(b))
    return np.asarray(m).reshape(len(a), len(b))


def _by_point(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: (r["point_coords"], -r["predicted_iou"]))


def test_bf16_decoder_keeps_masks(tiny_twins, synthetic_image):
    model = tiny_twins[1]
    image = np.ascontiguousarray(synthetic_image[::2, ::2])
    fp32 = SamAutomaticMaskGenerator(model, points_per_side=4, decoder_dtype="float32", **NMS_OFF).generate(image)
    gen = SamAutomaticMaskGenerator(model, points_per_side=4, decoder_dtype="bfloat16", **NMS_OFF)
    assert isinstance(gen.decoder_dtype, torch.dtype) and gen.decoder_dtype == torch.bfloat16
    bf16 = gen.generate(image)
    assert len(bf16) == len(fp32) == 48
    a, b = _by_point(fp32), _by_point(bf16)
    # Each point's 3 masks: the bf16 mask matches the fp32 one of the same point (order may swap
    # when two predicted IoUs are within bf16 rounding of each other).
    for i in range(0, 48, 3):
        ious = _ious(b[i : i + 3], a[i : i + 3])
        assert ious.max(1).min() >= 0.9, ious
        assert max(abs(x["predicted_iou"] - y["predicted_iou"]) for x, y in zip(a[i : i + 3], b[i : i + 3])) < 0.05
    assert not gen.predictor.is_image_set  # the crop's features were released
