"""SAM2AutomaticMaskGenerator: "segment everything" with a SAM 2 model.

Drop-in for `sam2.automatic_mask_generator.SAM2AutomaticMaskGenerator` (same constructor arguments,
defaults and records), running samkit's shared pipeline (pipeline.py). What differs from SAM 1, and
how this file keeps the reference's maths while doing less work:

- Points are normalised by the crop's width/height and scaled to the square model input, in float32
  (SAM 2 squashes the image to S x S, no padding), and records carry float32 point coordinates.
- The decoder is SAM 2's (object-score token, sigmoid IoU, high-res skips), evaluated by
  `Sam2PointDecoder`: the transformer for all points, then low-res masks only for the outputs that
  pass the predicted-IoU filter. The reference upsamples every mask of the batch to full size first.
- Low-res logits go straight to the crop's size with one bilinear resize (FullResProjector with no
  model frame); stability, box and area are computed at full size, streamed.
- multimask_output=False: the decoder's single output, replaced by the best multimask output when
  its stability is low (`dynamic_multimask_via_stability`, on the low-res logits, as the decoder does).
- use_m2m: every mask's clamped low-res logits go back in as a mask prompt with its point
  (single-output decoding, the plain decoder since the dense prompt differs per mask); the
  refined masks and IoUs replace the first ones before any filter.
- min_mask_region_area > 0: the reference's predictor removes holes and specks up to that area from
  the low-res logits (connected components, threshold 0) before upsampling, and the final
  hole/island pass of SAM 1 is not run. samkit does the same, only on the masks that passed the
  IoU filter (the reference's CUDA kernel; samkit uses OpenCV, so it works on the CPU too).
"""

from __future__ import annotations

import numpy as np
import torch

from samkit.automatic.fullres import FullResProjector
from samkit.automatic.pipeline import CropDecoder, DecodedBatch, MaskPipeline, checked_point_grids


class SAM2AutomaticMaskGenerator(MaskPipeline):
    # SAM 2 cleans small regions on the low-res logits instead (see the module docstring).
    remove_small_regions_at_end = False

    def __init__(
        self,
        model,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.8,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        mask_threshold: float = 0.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        use_m2m: bool = False,
        multimask_output: bool = True,
        **kwargs,
    ) -> None:
        """Generate masks for a whole image with a SAM 2 model (SAM2Base, samkit's or the reference's).

        points_per_side: grid points per side (points_per_side**2 prompts); exclusive with
            point_grids (a list of N_i x 2 arrays in [0, 1], one per crop layer).
        points_per_batch: prompts decoded at once.
        pred_iou_thresh / stability_score_thresh: keep masks above these (0 disables the filter).
        stability_score_offset: logit offset of the stability score; mask_threshold: logit threshold
            of the masks (and of the stability score's centre).
        box_nms_thresh / crop_nms_thresh: box-IoU thresholds of NMS within / across crops.
        crop_n_layers, crop_overlap_ratio, crop_n_points_downscale_factor: extra crop layers, as SAM 1.
        min_mask_region_area: if > 0, holes and specks up to this area (low-res pixels) are removed
            from the low-res logits before upsampling (needs OpenCV or SciPy).
        output_mode: 'binary_mask' (H x W bool), 'uncompressed_rle' or 'coco_rle'.
        use_m2m: one refinement step feeding each mask's low-res logits back with its point.
        multimask_output: three masks per point (True) or one.
        kwargs: accepted and ignored, as the reference does (from_pretrained passes model arguments).
        """
        self.point_grids = checked_point_grids(points_per_side, point_grids, crop_n_layers,
                                               crop_n_points_downscale_factor, points_per_batch, output_mode)
        from samkit.inference.sam2_predictor import SAM2ImagePredictor
        from samkit.inference.sam2_transforms import SAM2Transforms

        # As the reference: the predictor's own threshold stays 0 (it only matters to hole removal).
        self.predictor = SAM2ImagePredictor(model, max_hole_area=min_mask_region_area,
                                            max_sprinkle_area=min_mask_region_area)
        self._transforms = SAM2Transforms(resolution=model.image_size, mask_threshold=0.0,
                                          max_hole_area=min_mask_region_area, max_sprinkle_area=min_mask_region_area)
        self.points_per_batch = points_per_batch
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.mask_threshold = mask_threshold
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = output_mode
        self.use_m2m = use_m2m
        self.multimask_output = multimask_output
        self.timings: dict[str, float] = {}

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs) -> "SAM2AutomaticMaskGenerator":
        """Build the model for a Hugging Face id (e.g. "facebook/sam2.1-hiera-tiny") and a generator on it;
        kwargs go to both, as in the reference."""
        from samkit.builder_sam2 import build_sam2_hf

        return cls(build_sam2_hf(model_id, **kwargs), **kwargs)

    def _open_crop(self, crop_image: np.ndarray) -> CropDecoder:
        self.predictor.set_image(crop_image)
        return _Sam2CropDecoder(self, crop_image.shape[:2])


class _Sam2CropDecoder(CropDecoder):
    """SAM 2: the predictor's features, decoded by Sam2PointDecoder (plus m2m refinement)."""

    points_dtype = torch.float32

    def __init__(self, gen: SAM2AutomaticMaskGenerator, crop_hw: tuple[int, int]) -> None:
        from samkit.inference.sam2_point_decoder import Sam2PointDecoder

        self.gen = gen
        self.predictor = gen.predictor
        self.model = self.predictor.model
        self.crop_hw = (int(crop_hw[0]), int(crop_hw[1]))
        self.mask_threshold = gen.mask_threshold
        feats = self.predictor._features
        self.embed = feats["image_embed"].float()  # 1 x C x h x w
        self.high_res = [f.float() for f in feats["high_res_feats"]]
        dec = self.model.sam_mask_decoder
        self.decoder = Sam2PointDecoder(dec)
        pe = self.model.sam_prompt_encoder.get_dense_pe()
        self.pe = pe
        dense = self.model.sam_prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand_as(self.embed)
        self.side = self.decoder.prepare(self.embed, pe, dense, self.high_res if self.high_res else None)
        low_hw = (4 * self.side.hw[0], 4 * self.side.hw[1])
        self.projector = FullResProjector(low_hw, None, None, self.crop_hw, self.embed.device)

    def _model_coords(self, points_xy: torch.Tensor) -> torch.Tensor:
        """P x 2 float32 crop pixels -> P x 1 x 2 input-frame pixels (the reference's transform_coords)."""
        return self.gen._transforms.transform_coords(points_xy, normalize=True, orig_hw=self.crop_hw)[:, None, :]

    def _sparse(self, points_xy: torch.Tensor, mask_input: torch.Tensor | None = None):
        coords = self._model_coords(points_xy)
        labels = torch.ones(coords.shape[0], 1, dtype=torch.int, device=coords.device)
        return self.model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=mask_input)

    def decode(self, points_xy: np.ndarray, pred_iou_thresh: float) -> DecodedBatch:
        gen, decoder, side = self.gen, self.decoder, self.side
        pts = torch.as_tensor(points_xy, dtype=torch.float32, device=self.embed.device)
        sparse, _ = self._sparse(pts)
        out = decoder.transformer(side, sparse)
        n = pts.shape[0]
        if gen.multimask_output and not gen.use_m2m:
            iou = out.iou_pred.flatten()  # P*3, point-major
            keep = _iou_keep(iou, pred_iou_thresh)
            keep_2d = keep.view(n, -1)
            prompts = torch.nonzero(keep_2d.any(dim=1)).flatten()
            if prompts.numel():
                low = decoder.mask_logits(side, out, prompts, [1, 2, 3])[keep_2d[prompts]]
            else:
                low = self.embed.new_empty(0, 4 * side.hw[0], 4 * side.hw[1])
            return self._finish(keep, iou[keep], low, 3)
        # Every point needs its masks before any filter: the single output's choice depends on its
        # stability, and m2m refines all masks.
        every = slice(None)
        if gen.multimask_output:
            low, iou = decoder.mask_logits(side, out, every, [1, 2, 3]), out.iou_pred
        else:
            low, iou = self._dynamic_single(decoder.mask_logits(side, out, every, [0, 1, 2, 3]),
                                            torch.cat([out.iou_single, out.iou_pred], dim=1))
        m = low.shape[1]
        low, iou = low.flatten(0, 1), iou.flatten()
        if gen.use_m2m:
            low, iou = self._refine(pts.repeat_interleave(m, dim=0), low.clamp(-32.0, 32.0))
        keep = _iou_keep(iou, pred_iou_thresh)
        return self._finish(keep, iou[keep], low[keep], m)

    def _finish(self, keep: torch.Tensor, iou: torch.Tensor, low: torch.Tensor, m: int) -> DecodedBatch:
        """K x 4h x 4w survivors: hole/speck removal (when asked), then cut to what the resize reads."""
        if low.shape[0] and self.gen.min_mask_region_area > 0:
            low = self.gen._transforms.fill_holes_and_sprinkles(low[:, None].float())[:, 0]
        return DecodedBatch(keep=keep, iou_pred=iou, low_res=self.projector.crop_low_res(low), masks_per_point=m)

    def _dynamic_single(self, low_all: torch.Tensor, iou_all: torch.Tensor):
        """P x 4 x H x W, P x 4 (single output first) -> P x 1 x H x W, P x 1: the decoder's choice
        for multimask_output=False (sam2 MaskDecoder._dynamic_multimask_via_stability)."""
        dec = self.model.sam_mask_decoder
        if not dec.dynamic_multimask_via_stability:
            return low_all[:, :1], iou_all[:, :1]
        best = torch.argmax(iou_all[:, 1:], dim=-1) + 1
        rows = torch.arange(low_all.shape[0], device=low_all.device)
        single = low_all[:, 0].flatten(1)
        delta = dec.dynamic_multimask_stability_delta
        area_i = (single > delta).sum(-1).float()
        area_u = (single > -delta).sum(-1).float()
        stable = torch.where(area_u > 0, area_i / area_u, 1.0) >= dec.dynamic_multimask_stability_thresh
        choice = torch.where(stable, torch.zeros_like(best), best)
        return low_all[rows, choice][:, None], iou_all[rows, choice][:, None]

    def _refine(self, points_xy: torch.Tensor, low_res: torch.Tensor):
        """m2m: K points (float32 crop pixels) + their K x H x W clamped logits as mask prompts ->
        refined K x H x W logits and K IoUs, single-output decoding, in chunks of points_per_batch."""
        dec = self.model.sam_mask_decoder
        masks, ious = [], []
        step = self.gen.points_per_batch
        for s in range(0, points_xy.shape[0], step):
            sparse, dense = self._sparse(points_xy[s : s + step], low_res[s : s + step, None])
            low, iou, _, _ = dec(image_embeddings=self.embed, image_pe=self.pe, sparse_prompt_embeddings=sparse,
                                 dense_prompt_embeddings=dense, multimask_output=False, repeat_image=True,
                                 high_res_features=self.high_res or None)
            masks.append(low[:, 0])
            ious.append(iou[:, 0])
        return torch.cat(masks), torch.cat(ious)

    def close(self) -> None:
        self.predictor.reset_predictor()


def _iou_keep(iou: torch.Tensor, thresh: float) -> torch.Tensor:
    return iou > thresh if thresh > 0.0 else torch.ones_like(iou, dtype=torch.bool)
