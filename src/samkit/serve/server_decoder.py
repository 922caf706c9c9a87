"""Decoding prompts on the server, for models whose decoder the page cannot run from the embedding alone.

SAM 2's mask decoder reads the high-resolution feature maps (strides 4 and 8) besides the image
embedding, ~5x more data than SAM 1's embedding, and no ONNX export of it is served: the page sends
its prompt here and gets back the low-res logits it would have computed itself (the same layout:
K x 4h x 4w float16, row-major), then upscales and thresholds one mask as it does for SAM 1. SAM 1
models can be decoded here too (a client without onnxruntime); the page uses the ONNX path for them.

The features come from the embedding service's disk cache. The image whose features are loaded
stays loaded, so a session of clicks on one image reads the cache once. Each decode's low-res logits
are kept for a while under an id (`mask_id`) so a later prompt can feed one of them back as the mask
input (`mask_input_id` + `mask_index`), as SAM's interactive loop does, without sending it back up.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from samkit.errors import InputError
from samkit.inference.model_family import image_predictor

KEPT_MASK_INPUTS = 64  # decodes whose logits can be fed back; the oldest are forgotten first


class FeaturesNotReady(Exception):
    """The image has not been encoded (or its cache entry is gone): encode it first."""


@dataclass
class DecodeOutput:
    low_res_f16: bytes  # K x h x w little-endian float16, row-major (clamped to [-32, 32])
    shape: tuple[int, int, int]  # (K, h, w)
    iou_predictions: list[float]  # K
    mask_id: str  # feed these logits back with mask_input_id
    decode_ms: float

    def http_headers(self) -> dict[str, str]:
        """The headers a decode answer carries (POST .../decode and .../decode_text alike)."""
        return {"X-Mask-Shape": ",".join(str(s) for s in self.shape), "X-Mask-Dtype": "float16",
                "X-Iou-Predictions": ",".join(f"{v:.6g}" for v in self.iou_predictions),
                "X-Mask-Id": self.mask_id, "X-Decode-Ms": f"{self.decode_ms:.2f}",
                "Access-Control-Expose-Headers": "X-Mask-Shape, X-Iou-Predictions, X-Mask-Id, X-Decode-Ms"}


class ServerDecoder:
    """Decode prompts on cached image features with the model's image predictor (thread-safe)."""

    def __init__(self, model, embeddings) -> None:
        """embeddings: the EmbeddingService (its `embedding(pixel_key)` gives the cached features)."""
        self.embeddings = embeddings
        self.predictor = image_predictor(model)
        self._loaded_key: str | None = None
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[str, np.ndarray]] = OrderedDict()  # mask_id -> (pixel key, K x h x w)

    def decode(self, pixel_key: str | None, points_xy, labels, box_xyxy, multimask_output: bool = True,
               mask_input_id: str | None = None, mask_index: int = 0, text: str | None = None) -> DecodeOutput:
        """points_xy: N x 2 and box_xyxy: (4,) in original-image pixels; labels: N (1 fg, 0 bg);
        text: a text prompt for models with a text path (samkit.serve.text_route).
        Raises FeaturesNotReady if the image is not encoded, InputError for a bad prompt."""
        if points_xy and any(len(p) != 2 for p in points_xy):
            raise InputError(f"a point is [x, y] (two numbers), got {next(p for p in points_xy if len(p) != 2)}")
        if box_xyxy is not None and len(box_xyxy) != 4:
            raise InputError(f"a box is [x0, y0, x1, y1] (four numbers), got {box_xyxy}")
        points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2) if points_xy else None
        point_labels = np.asarray(labels, dtype=np.int64).reshape(-1) if points is not None else None
        if points is None and labels:
            raise InputError(f"{len(labels)} labels given without points")
        box = np.asarray(box_xyxy, dtype=np.float64) if box_xyxy is not None else None
        if points is None and box is None and mask_input_id is None and text is None:
            raise InputError("the prompt is empty: give points, a box or a mask_input_id")
        with self._lock:
            mask_input = self._mask_input(pixel_key, mask_input_id, mask_index)
            self._load(pixel_key)
            t0 = time.perf_counter()
            _, iou, low_res = self.predictor.predict(point_coords=points, point_labels=point_labels, box=box,
                                                     mask_input=mask_input, multimask_output=multimask_output,
                                                     **({} if text is None else {"text": text}))
            ms = 1e3 * (time.perf_counter() - t0)
            low_res = np.asarray(low_res, dtype=np.float32)
            mask_id = uuid.uuid4().hex[:16]
            self._kept[mask_id] = (pixel_key, low_res)
            while len(self._kept) > KEPT_MASK_INPUTS:
                self._kept.popitem(last=False)
        return DecodeOutput(low_res.astype("<f2").tobytes(), tuple(int(s) for s in low_res.shape),
                            [float(v) for v in np.asarray(iou).reshape(-1)], mask_id, ms)

    def _load(self, pixel_key: str | None) -> None:
        if pixel_key and pixel_key == self._loaded_key:
            return
        emb = self.embeddings.embedding(pixel_key, self.predictor.device)
        if emb is None:
            raise FeaturesNotReady("the image is not encoded yet")
        self.predictor.set_embedding(emb)
        self._loaded_key = pixel_key

    def _mask_input(self, pixel_key: str | None, mask_id: str | None, index: int) -> np.ndarray | None:
        """1 x h x w logits of an earlier decode of the same image (the predictor's mask_input)."""
        if mask_id is None:
            return None
        kept = self._kept.get(mask_id)
        if kept is None:
            raise InputError(f"mask_input_id {mask_id!r} is unknown or expired (the server keeps the last "
                             f"{KEPT_MASK_INPUTS} decodes); decode without it")
        key, logits = kept
        if key != pixel_key:
            raise InputError(f"mask_input_id {mask_id!r} belongs to another image")
        if not 0 <= index < logits.shape[0]:
            raise InputError(f"mask_index {index} is out of range: that decode returned {logits.shape[0]} masks")
        return logits[index : index + 1]
