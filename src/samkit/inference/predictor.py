"""SamPredictor: encode an image once, then answer many prompts fast.

Drop-in compatible with segment_anything.SamPredictor (same methods, arguments and return values),
plus: validated inputs with clear errors, stability scores, many prompts per call (`segment_batch`),
many images per encoder batch (`encode_images`), and embeddings saved/loaded/cached by content.
Runs in the model's device and encoder dtype (see samkit.load_model).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from samkit.errors import InputError
from samkit.inference.embedding import EmbeddingCache, ImageEmbedding, image_key, model_key
from samkit.inference.mask_quality import stability_score
from samkit.inference.point_decoder import ImageSide, PointBatchDecoder
from samkit.inference.prompts import check_boxes, check_mask_input, check_points
from samkit.inference.text_prompt import encode_text_prompt, with_text_token
from samkit.inference.transforms import ResizeLongestSide

STABILITY_OFFSET = 1.0


@dataclass
class Prediction:
    """Masks for one or B prompts, in the original image frame.

    masks: [B x] K x H x W bool; iou_predictions: [B x] K; stability_scores: [B x] K;
    low_res_logits: [B x] K x 4h x 4w (feed back as mask_input). K = 3 with multimask, else 1.
    """

    masks: np.ndarray
    iou_predictions: np.ndarray
    stability_scores: np.ndarray
    low_res_logits: np.ndarray

    def best(self) -> int | np.ndarray:
        """Index of the mask with the highest predicted IoU (per prompt when batched)."""
        return np.argmax(self.iou_predictions, axis=-1)


def check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array (H x W x 3 uint8), got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must have shape H x W x 3, got {image.shape} (use samkit.image_io.load_image "
                         f"for grayscale/RGBA/16-bit files)")
    if image.dtype != np.uint8:
        raise InputError(f"image must be uint8 with values 0..255, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"image is empty: {image.shape}")
    return image


class SamPredictor:
    def __init__(self, sam_model, cache_dir: str | os.PathLike | None = None) -> None:
        """sam_model: a samkit Sam (from samkit.load_model / sam_model_registry).

        cache_dir: optional directory where image embeddings are kept by content, so the same image
        with the same model is encoded once ever.
        """
        self.model = sam_model
        self.transform = ResizeLongestSide(sam_model.image_encoder.img_size)
        self.cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        # Prompts without a mask input go through the folded decoder (same function, less work:
        # see point_decoder.py); its per-image part is computed once per image, on first use.
        self._fast_decoder = PointBatchDecoder(sam_model.mask_decoder, sam_model.mask_decoder.transformer.num_heads)
        self.reset_image()

    # ------------------------------------------------------------------ images
    @property
    def device(self) -> torch.device:
        return self.model.device

    def reset_image(self) -> None:
        self.is_image_set = False
        self._image_side: ImageSide | None = None
        self.features: torch.Tensor | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None
        self.orig_h = self.orig_w = self.input_h = self.input_w = None

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Encode an H x W x 3 uint8 image (RGB or BGR) for the following predictions."""
        if image_format not in ("RGB", "BGR"):
            raise InputError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
        image = check_image(image)
        if image_format != self.model.image_format:
            image = np.ascontiguousarray(image[..., ::-1])
        key = None
        if self.cache is not None:
            key = image_key(image)
            cached = self.cache.get(key, model_key(self.model), self.device)
            if cached is not None:
                self.set_embedding(cached)
                return
        input_image = torch.as_tensor(self.transform.apply_image(image), device=self.device)
        self.set_torch_image(input_image.permute(2, 0, 1).contiguous()[None], image.shape[:2])
        if self.cache is not None:
            self.cache.put(key, self.get_embedding())

    @torch.inference_mode()
    def set_torch_image(self, transformed_image: torch.Tensor, original_image_size: tuple[int, ...]) -> None:
        """transformed_image: 1 x 3 x h x w (0..255, longest side = img_size); original (H, W)."""
        s = self.model.image_encoder.img_size
        if transformed_image.ndim != 4 or transformed_image.shape[1] != 3 or max(transformed_image.shape[2:]) != s:
            raise InputError(f"set_torch_image input must be B x 3 x H x W with longest side {s}, "
                             f"got {tuple(transformed_image.shape)}")
        self.reset_image()
        self.original_size = tuple(int(v) for v in original_image_size)
        self.input_size = tuple(int(v) for v in transformed_image.shape[-2:])
        x = self.model.preprocess(transformed_image.to(self.device, torch.float32))
        self.features = self.model.encode_images(x)
        self._mark_set()

    def _mark_set(self) -> None:
        self.is_image_set = True
        self.orig_h, self.orig_w = self.original_size
        self.input_h, self.input_w = self.input_size

    def get_image_embedding(self) -> torch.Tensor:
        """The current image's embedding, 1 x C x h x w."""
        self._require_image()
        return self.features

    def get_embedding(self) -> ImageEmbedding:
        """The current image's embedding with its frames, to save or to set again later."""
        self._require_image()
        return ImageEmbedding(self.features, self.original_size, self.input_size, model_key(self.model))

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Switch to a previously computed image embedding without running the encoder."""
        want = tuple(self.model.prompt_encoder.image_embedding_size)
        if tuple(embedding.features.shape[-2:]) != want or embedding.features.shape[1] != self.model.prompt_encoder.embed_dim:
            raise InputError(f"embedding of shape {tuple(embedding.features.shape)} does not fit this model "
                             f"(expects 1 x {self.model.prompt_encoder.embed_dim} x {want[0]} x {want[1]})")
        if embedding.model_key and embedding.model_key != model_key(self.model):
            raise InputError("embedding was computed by a different model (weights, config or dtype differ)")
        self.reset_image()
        self.features = embedding.features.to(self.device, torch.float32)
        self.original_size, self.input_size = tuple(embedding.original_size), tuple(embedding.input_size)
        self._mark_set()

    @torch.inference_mode()
    def encode_images(self, images: list[np.ndarray], batch_size: int = 4, progress: bool = False) -> list[ImageEmbedding]:
        """Encode many H x W x 3 uint8 RGB images, `batch_size` per encoder call (all pad to S x S)."""
        from tqdm.auto import tqdm

        out: list[ImageEmbedding] = []
        mkey = model_key(self.model)
        bar = tqdm(total=len(images), desc="encoding", unit="img", disable=not progress)
        for start in range(0, len(images), batch_size):
            chunk = [check_image(im) for im in images[start : start + batch_size]]
            resized = [torch.as_tensor(self.transform.apply_image(im)).permute(2, 0, 1) for im in chunk]
            x = torch.stack([self.model.preprocess(r[None].to(self.device, torch.float32))[0] for r in resized])
            feats = self.model.encode_images(x)
            for im, r, f in zip(chunk, resized, feats):
                out.append(ImageEmbedding(f[None].clone(), tuple(im.shape[:2]), tuple(r.shape[-2:]), mkey))
            bar.update(len(chunk))
        bar.close()
        return out

    def _require_image(self) -> None:
        if not self.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")

    # ------------------------------------------------------------------ prompts
    def predict(self, point_coords: np.ndarray | None = None, point_labels: np.ndarray | None = None,
                box: np.ndarray | None = None, mask_input: np.ndarray | None = None, multimask_output: bool = True,
                return_logits: bool = False, text: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One prompt in original-image pixels -> (masks K x H x W, iou K, low-res logits K x 4h x 4w).

        point_coords N x 2 (x, y); point_labels N (1 fg, 0 bg); box (4,) xyxy; mask_input 1 x 4h x 4w;
        text: a phrase for models with a text path (docs/text-prompts.md), alone or with the others.
        """
        masks, iou, low_res = self._predict_np(point_coords, point_labels, box, mask_input, multimask_output,
                                               return_logits, batched=False, text=text)
        return masks[0], iou[0], low_res[0]

    def segment(self, point_coords=None, point_labels=None, box=None, mask_input=None,
                multimask_output: bool = True, text: str | None = None) -> Prediction:
        """Like predict, returning a Prediction that also carries stability scores (text= as in predict)."""
        logits, iou, low_res = self._predict_np(point_coords, point_labels, box, mask_input, multimask_output,
                                                True, batched=False, text=text)
        return self._prediction(logits[0], iou[0], low_res[0])

    def segment_batch(self, point_coords=None, point_labels=None, boxes=None, mask_input=None,
                      multimask_output: bool = True, chunk_size: int = 64) -> Prediction:
        """B prompts at once: point_coords B x N x 2, point_labels B x N, boxes B x 4, mask_input
        B x 1 x 4h x 4w (all in original pixels / logits). Runs the decoder `chunk_size` prompts at a
        time to bound memory. Returns a Prediction with a leading B axis."""
        coords, labels = check_points(point_coords, point_labels, self._orig(), batched=True)
        boxes_np = check_boxes(boxes, self._orig(), batched=True)
        sizes = {a.shape[0] for a in (coords, boxes_np) if a is not None}
        if len(sizes) > 1:
            raise InputError(f"point_coords and boxes must have the same batch size, got {sorted(sizes)}")
        if not sizes and mask_input is None:
            raise InputError("segment_batch needs point_coords, boxes or mask_input")
        b = sizes.pop() if sizes else np.asarray(mask_input).shape[0]
        masks_in = check_mask_input(mask_input, tuple(self.model.prompt_encoder.mask_input_size), batch=b)
        parts = []
        for s in range(0, b, chunk_size):
            sl = slice(s, s + chunk_size)
            parts.append(self._predict_arrays(None if coords is None else coords[sl], None if labels is None else labels[sl],
                                              None if boxes_np is None else boxes_np[sl],
                                              None if masks_in is None else masks_in[sl], multimask_output, True))
        logits, iou, low_res = (np.concatenate([p[i] for p in parts]) for i in range(3))
        return self._prediction(logits, iou, low_res)

    def _prediction(self, logits: np.ndarray, iou: np.ndarray, low_res: np.ndarray) -> Prediction:
        t = self.model.mask_threshold
        stab = stability_score(torch.from_numpy(logits), t, STABILITY_OFFSET).numpy()
        return Prediction(logits > t, iou, stab, low_res)

    def _orig(self) -> tuple[int, int]:
        self._require_image()
        return self.original_size

    def _predict_np(self, point_coords, point_labels, box, mask_input, multimask_output, return_logits, batched,
                    text=None):
        coords, labels = check_points(point_coords, point_labels, self._orig())
        boxes = check_boxes(box, self._orig())
        masks_in = check_mask_input(mask_input, tuple(self.model.prompt_encoder.mask_input_size))
        text_token = None if text is None else encode_text_prompt(self.model, text)
        return self._predict_arrays(None if coords is None else coords[None], None if labels is None else labels[None],
                                    boxes, None if masks_in is None else masks_in[None], multimask_output, return_logits,
                                    text_token)

    def _predict_arrays(self, coords, labels, boxes, masks_in, multimask_output, return_logits, text_token=None):
        dev = self.device
        coords_t = labels_t = boxes_t = mask_t = None
        if coords is not None:
            coords_t = torch.as_tensor(self.transform.apply_coords(coords, self.original_size), dtype=torch.float, device=dev)
            labels_t = torch.as_tensor(labels, dtype=torch.int, device=dev)
        if boxes is not None:
            boxes_t = torch.as_tensor(self.transform.apply_boxes(boxes, self.original_size), dtype=torch.float, device=dev)
        if masks_in is not None:
            mask_t = torch.as_tensor(masks_in, dtype=torch.float, device=dev)
        masks, iou, low_res = self.predict_torch(coords_t, labels_t, boxes_t, mask_t, multimask_output, return_logits,
                                                 text_token=text_token)
        return masks.cpu().numpy(), iou.float().cpu().numpy(), low_res.float().cpu().numpy()

    @torch.inference_mode()
    def predict_torch(self, point_coords: torch.Tensor | None, point_labels: torch.Tensor | None,
                      boxes: torch.Tensor | None = None, mask_input: torch.Tensor | None = None,
                      multimask_output: bool = True, return_logits: bool = False,
                      text_token: torch.Tensor | None = None):
        """Batched prompts already in the model-input frame (apply ResizeLongestSide first).

        point_coords B x N x 2, point_labels B x N, boxes B x 4, mask_input B x 1 x 4h x 4w;
        text_token 1 or B x 1 x C (samkit.inference.text_prompt.encode_text_prompt), appended last.
        Returns masks B x K x H x W (bool, or logits), iou B x K, low-res logits B x K x 4h x 4w.
        """
        self._require_image()
        points = (point_coords, point_labels) if point_coords is not None else None
        if mask_input is None and self.features.shape[0] == 1:
            low_res, iou = self._decode_without_mask(points, boxes, multimask_output, text_token)
        else:
            sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
            sparse = with_text_token(sparse, text_token)
            dense = dense.expand(sparse.shape[0], -1, -1, -1) if dense.shape[0] != sparse.shape[0] else dense
            low_res, iou = self.model.mask_decoder(
                image_embeddings=self.features, image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=multimask_output,
            )
        masks = self.model.postprocess_masks(low_res, self.input_size, self.original_size)
        if not return_logits:
            masks = masks > self.model.mask_threshold
        return masks, iou, low_res

    def _decode_without_mask(self, points, boxes, multimask_output: bool,
                             text_token: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The mask decoder for prompts with no mask input, via the folded PointBatchDecoder.

        Returns low-res logits B x K x 4h x 4w and IoU predictions B x K, equal to
        `model.mask_decoder(...)` up to float rounding (tests/inference/test_predictor_parity.py).
        """
        pe_enc = self.model.prompt_encoder
        sparse, _ = pe_enc(points=points, boxes=boxes, masks=None)
        sparse = with_text_token(sparse, text_token)
        if self._image_side is None:
            h, w = pe_enc.image_embedding_size
            no_mask = pe_enc.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, h, w)
            self._image_side = self._fast_decoder.prepare(self.features, pe_enc.get_dense_pe(), no_mask)
        out = self._fast_decoder.transformer(self._image_side, sparse)
        low_res = self._fast_decoder.masks(self._image_side, out, slice(None), multimask=multimask_output)
        return low_res, (out.iou_pred if multimask_output else out.iou_single)

