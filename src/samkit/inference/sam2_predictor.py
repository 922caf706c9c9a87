"""SAM2ImagePredictor: encode an image once with SAM 2, then answer many prompts fast.

Drop-in for `sam2.sam2_image_predictor.SAM2ImagePredictor`: same constructor, methods, return
shapes and dtypes, and the attributes fine-tuning scripts reach into (`model`, `_features`,
`_orig_hw`, `_transforms`, `_prep_prompts`, `_predict`, `_is_image_set`, `_is_batch`,
`_bb_feat_sizes`). Works with samkit's SAM2Base or the reference's.

samkit adds: validated prompts (InputError says what was wrong), hole/sprinkle removal on CPU (see
sam2_transforms.py), stability scores and `segment`/`segment_batch` returning a Prediction,
features cached on disk by image content (`cache_dir`), and a cheaper decoder for prompts without a
mask input (sam2_point_decoder.py: same results to float32 rounding).
Frames: prompts in original-image pixels (or [0, 1] with normalize_coords=False); low-res logits
S/4 x S/4 cover the whole image (SAM 2 resizes to S x S without padding).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from samkit.errors import InputError
from samkit.inference.mask_quality import stability_score
from samkit.inference.predictor import STABILITY_OFFSET, Prediction
from samkit.inference.sam2_embedding import Sam2Embedding, Sam2EmbeddingCache, image_key, sam2_model_key
from samkit.inference.sam2_point_decoder import Sam2ImageSide, Sam2PointDecoder
from samkit.inference.sam2_prompts import check_sam2_prompts
from samkit.inference.sam2_transforms import SAM2Transforms, image_to_array

MASK_CHUNK = 16  # prompts upscaled together: bounds the ~12 MB per prompt of upscaling buffers


class SAM2ImagePredictor:
    def __init__(self, sam_model, mask_threshold: float = 0.0, max_hole_area: float = 0.0,
                 max_sprinkle_area: float = 0.0, cache_dir: str | os.PathLike | None = None, **kwargs) -> None:
        """sam_model: a SAM2Base. mask_threshold: logit threshold of the binary masks.
        max_hole_area / max_sprinkle_area: fill background holes / remove foreground specks up to that
        many low-res pixels (0 = off). cache_dir: keep image features on disk by content, so the same
        image with the same model is encoded once ever. Other keyword arguments are accepted and ignored,
        as the reference does (from_pretrained passes its build arguments on)."""
        self.model = sam_model
        self._transforms = SAM2Transforms(resolution=sam_model.image_size, mask_threshold=mask_threshold,
                                          max_hole_area=max_hole_area, max_sprinkle_area=max_sprinkle_area)
        self.mask_threshold = mask_threshold
        s = sam_model.image_size
        self._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
        self.cache = Sam2EmbeddingCache(cache_dir) if cache_dir is not None else None
        self._fast_decoder = Sam2PointDecoder(sam_model.sam_mask_decoder)
        self.reset_predictor()

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs) -> "SAM2ImagePredictor":
        """A predictor for a pretrained model (a Hugging Face id such as "facebook/sam2.1-hiera-tiny", or a
        samkit preset name); see samkit.builder_sam2.from_pretrained."""
        from samkit.builder_sam2 import from_pretrained

        return cls(from_pretrained(model_id, **kwargs), **kwargs)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def reset_predictor(self) -> None:
        """Forget the current image(s)."""
        self._is_image_set = False
        self._features = None
        self._orig_hw = None
        self._is_batch = False
        self._sides: dict[int, tuple[int, Sam2ImageSide]] = {}
        self._dense_pe: torch.Tensor | None = None

    # ------------------------------------------------------------------ images
    @torch.no_grad()
    def set_image(self, image) -> None:
        """Encode one H x W x 3 uint8 RGB image (numpy array or PIL image)."""
        arr = image_to_array(image)
        self.reset_predictor()
        key = None
        if self.cache is not None:
            key = image_key(arr)
            cached = self.cache.get(key, sam2_model_key(self.model), self.device)
            if cached is not None:
                self.set_embedding(cached)
                return
        self._encode(self._transforms(arr)[None], [arr.shape[:2]])
        if self.cache is not None:
            self.cache.put(key, self.get_embedding())

    @torch.no_grad()
    def set_image_batch(self, image_list: list) -> None:
        """Encode several H x W x 3 uint8 RGB images (sizes may differ) in one encoder batch."""
        if not isinstance(image_list, (list, tuple)) or not image_list:
            raise InputError(f"set_image_batch expects a non-empty list of images, got {type(image_list).__name__}")
        arrays = [image_to_array(im) for im in image_list]
        self.reset_predictor()
        self._encode(self._transforms.forward_batch(arrays), [a.shape[:2] for a in arrays])
        self._is_batch = True

    def _encode(self, img_batch: torch.Tensor, orig_hw: list[tuple[int, int]]) -> None:
        """img_batch: B x 3 x S x S normalized -> self._features (B x C x h x w and the high-res maps)."""
        model = self.model
        backbone_out = model.forward_image(img_batch.to(self.device))
        _, vision_feats, _, feat_sizes = model._prepare_backbone_features(backbone_out)
        if model.directly_add_no_mem_embed:
            vision_feats[-1] = vision_feats[-1] + model.no_mem_embed
        b = img_batch.shape[0]
        # HW x B x C -> B x C x H x W, contiguous: the decoder reads these for every prompt.
        feats = [f.permute(1, 2, 0).reshape(b, -1, *hw).contiguous() for f, hw in zip(vision_feats, feat_sizes)]
        self._features = {"image_embed": feats[-1], "high_res_feats": feats[:-1]}
        self._orig_hw = [tuple(int(v) for v in hw) for hw in orig_hw]
        self._is_image_set = True

    def get_image_embedding(self) -> torch.Tensor:
        """The current image embedding, B x C x h x w (B = 1 after set_image)."""
        self._require_image()
        return self._features["image_embed"]

    def get_embedding(self, img_idx: int = 0) -> Sam2Embedding:
        """All features of one set image with its size, to save or set again later."""
        self._require_image()
        i = img_idx % len(self._orig_hw)
        return Sam2Embedding(self._features["image_embed"][i : i + 1],
                             [f[i : i + 1] for f in self._features["high_res_feats"]], self._orig_hw[i],
                             sam2_model_key(self.model))

    def set_embedding(self, embedding: Sam2Embedding) -> None:
        """Switch to previously computed features without running the encoder."""
        if embedding.model_key and embedding.model_key != sam2_model_key(self.model):
            raise InputError("embedding was computed by a different model (weights, config or dtype differ)")
        want = tuple(self.model.sam_prompt_encoder.image_embedding_size)
        if tuple(embedding.image_embed.shape[-2:]) != want:
            raise InputError(f"embedding of shape {tuple(embedding.image_embed.shape)} does not fit this model "
                             f"(expects a {want[0]} x {want[1]} grid)")
        self.reset_predictor()
        self._features = {"image_embed": embedding.image_embed.to(self.device, torch.float32),
                          "high_res_feats": [f.to(self.device, torch.float32) for f in embedding.high_res_feats]}
        self._orig_hw = [tuple(embedding.orig_hw)]
        self._is_image_set = True

    def _require_image(self) -> None:
        if not self._is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")

    # ------------------------------------------------------------------ prompts (reference API)
    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None, multimask_output: bool = True,
                return_logits: bool = False, normalize_coords: bool = True):
        """Prompts on the set image -> (masks [B x] K x H x W float32 0/1 (logits with return_logits),
        IoU predictions [B x] K float32, low-res logits [B x] K x h x w float32); K = 3 with multimask,
        else 1; the B axis appears only for batched prompts (points B x N x 2, boxes B x 4)."""
        self._require_image()
        return self._predict_np(point_coords, point_labels, box, mask_input, multimask_output, return_logits,
                                normalize_coords, img_idx=-1)

    def predict_batch(self, point_coords_batch=None, point_labels_batch=None, box_batch=None, mask_input_batch=None,
                      multimask_output: bool = True, return_logits: bool = False, normalize_coords: bool = True):
        """predict() for each image of set_image_batch; lists of per-image prompts -> lists of results."""
        if not self._is_batch:
            raise RuntimeError("predict_batch needs images set with .set_image_batch(...)")
        self._require_image()
        pick = lambda xs, i: None if xs is None else xs[i]  # noqa: E731
        outs = [self._predict_np(pick(point_coords_batch, i), pick(point_labels_batch, i), pick(box_batch, i),
                                 pick(mask_input_batch, i), multimask_output, return_logits, normalize_coords, img_idx=i)
                for i in range(len(self._orig_hw))]
        return [o[0] for o in outs], [o[1] for o in outs], [o[2] for o in outs]

    def _predict_np(self, point_coords, point_labels, box, mask_input, multimask_output, return_logits,
                    normalize_coords, img_idx):
        coords, labels, boxes, masks_in = self._checked(point_coords, point_labels, box, mask_input,
                                                        normalize_coords, img_idx)
        mask_t, coords_t, labels_t, boxes_t = self._prep_prompts(coords, labels, boxes, masks_in, normalize_coords,
                                                                 img_idx=img_idx)
        masks, iou, low_res = self._predict_impl(coords_t, labels_t, boxes_t, mask_t, multimask_output,
                                                 "logits" if return_logits else "float01", img_idx)
        return masks.squeeze(0).numpy(force=True), iou.squeeze(0).float().numpy(force=True), \
            low_res.squeeze(0).float().numpy(force=True)

    def _checked(self, point_coords, point_labels, box, mask_input, normalize_coords, img_idx):
        self._require_image()
        return check_sam2_prompts(point_coords, point_labels, box, mask_input, self._orig_hw[img_idx],
                                  tuple(self.model.sam_prompt_encoder.mask_input_size), normalize_coords)

    def _prep_prompts(self, point_coords, point_labels, box, mask_logits, normalize_coords, img_idx=-1):
        """numpy prompts -> (mask_input B x 1 x h x w, coords B x N x 2 and boxes B x 2 x 2 in the
        input frame, labels B x N int32) torch tensors, as the reference returns them."""
        coords = labels = boxes = mask_input = None
        if point_coords is not None:
            if point_labels is None:
                raise InputError("point_labels must be supplied if point_coords is supplied")
            pts = torch.as_tensor(point_coords, dtype=torch.float, device=self.device)
            coords = self._transforms.transform_coords(pts, normalize=normalize_coords, orig_hw=self._orig_hw[img_idx])
            labels = torch.as_tensor(point_labels, dtype=torch.int, device=self.device)
            if coords.ndim == 2:
                coords, labels = coords[None], labels[None]
        if box is not None:
            b = torch.as_tensor(box, dtype=torch.float, device=self.device)
            boxes = self._transforms.transform_boxes(b, normalize=normalize_coords, orig_hw=self._orig_hw[img_idx])
        if mask_logits is not None:
            mask_input = torch.as_tensor(mask_logits, dtype=torch.float, device=self.device)
            if mask_input.ndim == 3:
                mask_input = mask_input[None]
        return mask_input, coords, labels, boxes

    def _predict(self, point_coords, point_labels, boxes=None, mask_input=None, multimask_output: bool = True,
                 return_logits: bool = False, img_idx: int = -1):
        """Torch prompts already in the input frame (see _prep_prompts): coords B x N x 2, labels B x N,
        boxes B x 4 or B x 2 x 2, mask_input B x 1 x h x w -> (masks B x K x H x W bool, or logits,
        IoU B x K, low-res logits B x K x h x w clamped to [-32, 32])."""
        self._require_image()
        return self._predict_impl(point_coords, point_labels, boxes, mask_input, multimask_output,
                                  "logits" if return_logits else "bool", img_idx)

    # ------------------------------------------------------------------ samkit extras
    def segment(self, point_coords=None, point_labels=None, box=None, mask_input=None,
                multimask_output: bool = True, normalize_coords: bool = True) -> Prediction:
        """Like predict(), returning a Prediction (bool masks, IoU, stability scores, low-res logits)."""
        logits, iou, low_res = self._predict_np(point_coords, point_labels, box, mask_input, multimask_output, True,
                                                normalize_coords, img_idx=-1)
        return self._prediction(torch.from_numpy(logits), iou, low_res)

    def segment_batch(self, point_coords=None, point_labels=None, boxes=None, mask_input=None,
                      multimask_output: bool = True, normalize_coords: bool = True, chunk_size: int = 64) -> Prediction:
        """B prompts on the set image: points B x N x 2 with labels B x N, boxes B x 4, mask_input
        B x 1 x h x w. Decodes `chunk_size` prompts at a time. Returns a Prediction with a B axis."""
        if point_coords is not None and np.ndim(point_coords) != 3:
            raise InputError(f"segment_batch point_coords must be B x N x 2, got shape {np.shape(point_coords)}")
        if mask_input is not None and np.ndim(mask_input) != 4:
            raise InputError(f"segment_batch mask_input must be B x 1 x h x w, got shape {np.shape(mask_input)}")
        coords, labels, boxes_np, masks_in = self._checked(point_coords, point_labels, boxes, mask_input,
                                                           normalize_coords, -1)
        if boxes_np is not None and np.ndim(boxes) != 2:
            raise InputError(f"segment_batch boxes must be B x 4, got shape {np.shape(boxes)}")
        b = next((a.shape[0] for a in (coords, boxes_np, masks_in) if a is not None), None)
        if b is None:
            raise InputError("segment_batch needs point_coords, boxes or mask_input")
        parts = []
        for s in range(0, b, chunk_size):
            rows = slice(s, s + chunk_size)
            coords_c, labels_c, boxes_c = (None if a is None else a[rows] for a in (coords, labels, boxes_np))
            masks_c = masks_in if masks_in is None or masks_in.shape[0] == 1 else masks_in[rows]  # 1 mask: shared
            t = self._prep_prompts(coords_c, labels_c, boxes_c, masks_c, normalize_coords)
            parts.append(self._predict_impl(t[1], t[2], t[3], t[0], multimask_output, "logits", -1))
        logits = torch.cat([p[0] for p in parts])
        iou = torch.cat([p[1] for p in parts]).float().numpy(force=True)
        low_res = torch.cat([p[2] for p in parts]).float().numpy(force=True)
        return self._prediction(logits, iou, low_res)

    def _prediction(self, logits: torch.Tensor, iou: np.ndarray, low_res: np.ndarray) -> Prediction:
        t = self.mask_threshold
        stab = stability_score(logits, t, STABILITY_OFFSET).numpy(force=True)
        return Prediction((logits > t).numpy(force=True), iou, stab, low_res)

    # ------------------------------------------------------------------ decoding
    @torch.no_grad()
    def _predict_impl(self, point_coords, point_labels, boxes, mask_input, multimask_output: bool, out: str,
                      img_idx: int):
        """out: "bool" (thresholded masks), "float01" (the same as float32 0/1, what predict returns) or
        "logits". Returns (masks, IoU, clamped low-res logits) as torch tensors."""
        low_res, iou = self._decode(point_coords, point_labels, boxes, mask_input, multimask_output, img_idx)
        masks = self._transforms.fill_holes_and_sprinkles(low_res.float())
        masks = F.interpolate(masks, self._orig_hw[img_idx], mode="bilinear", align_corners=False)
        if out == "bool":
            masks = masks > self.mask_threshold
        elif out == "float01":
            masks = masks.gt_(self.mask_threshold)  # in place: 1.0 / 0.0, no second full-size tensor
        return masks, iou, low_res.clamp_(-32.0, 32.0)

    def _decode(self, point_coords, point_labels, boxes, mask_input, multimask_output: bool, img_idx: int):
        """-> (low-res logits B x K x h x w, IoU B x K) from the SAM heads, as the reference computes them."""
        points = None if point_coords is None else (point_coords, point_labels)
        if boxes is not None:  # boxes go first, as two corner points labelled 2 and 3
            box_coords = boxes.reshape(-1, 2, 2)
            box_labels = torch.tensor([[2, 3]], dtype=torch.int, device=boxes.device).repeat(box_coords.shape[0], 1)
            if points is not None:
                points = (torch.cat([box_coords, points[0]], dim=1), torch.cat([box_labels, points[1]], dim=1))
            else:
                points = (box_coords, box_labels)
        pe_enc, dec = self.model.sam_prompt_encoder, self.model.sam_mask_decoder
        n_images = self._features["image_embed"].shape[0]
        i = img_idx % n_images
        if mask_input is not None:  # per-prompt dense input: the plain decoder
            sparse, dense = pe_enc(points=points, boxes=None, masks=mask_input)
            low_res, iou, _, _ = dec(
                image_embeddings=self._features["image_embed"][i : i + 1], image_pe=self._image_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=multimask_output,
                repeat_image=points is not None and points[0].shape[0] > 1,
                high_res_features=[f[i : i + 1] for f in self._features["high_res_feats"]])
            return low_res, iou
        sparse, _ = pe_enc(points=points, boxes=None, masks=None)
        side = self._image_side(i)
        fast = self._fast_decoder
        out = fast.transformer(side, sparse)
        dynamic = not multimask_output and dec.dynamic_multimask_via_stability and not dec.training
        tokens = [1, 2, 3] if multimask_output else [0, 1, 2, 3] if dynamic else [0]
        b = sparse.shape[0]
        low_res = torch.cat([fast.mask_logits(side, out, slice(s, s + MASK_CHUNK), tokens)
                             for s in range(0, b, MASK_CHUNK)])
        if multimask_output:
            return low_res, out.iou_pred
        if dynamic:
            return dec._dynamic_multimask_via_stability(low_res, torch.cat([out.iou_single, out.iou_pred], dim=1))
        return low_res, out.iou_single

    def _image_pe(self) -> torch.Tensor:
        """The prompt encoder's dense positional encoding, 1 x C x h x w, computed once per image."""
        if self._dense_pe is None:
            self._dense_pe = self.model.sam_prompt_encoder.get_dense_pe()
        return self._dense_pe

    def _image_side(self, i: int) -> Sam2ImageSide:
        """The folded decoder's per-image tensors for image i, rebuilt when decoder weights changed."""
        dec = self.model.sam_mask_decoder
        version = sum(p._version for p in dec.parameters()) + self.model.sam_prompt_encoder.no_mask_embed.weight._version
        cached = self._sides.get(i)
        if cached is not None and cached[0] == version:
            return cached[1]
        pe_enc = self.model.sam_prompt_encoder
        h, w = pe_enc.image_embedding_size
        no_mask = pe_enc.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, h, w)
        side = self._fast_decoder.prepare(self._features["image_embed"][i : i + 1], self._image_pe(), no_mask,
                                          [f[i : i + 1] for f in self._features["high_res_feats"]])
        self._sides[i] = (version, side)
        return side
