"""SAM2Base: the SAM 2 model under the official module names, so official checkpoints load unchanged.

Parts: `image_encoder` (Hiera trunk + FPN neck), `sam_prompt_encoder` (SAM 1's prompt encoder),
`sam_mask_decoder` (SAM 2's), and for video `memory_attention`, `memory_encoder` and the memory /
object-pointer parameters. Image prediction uses forward_image, _prepare_backbone_features and
_forward_sam_heads; the video tracking steps (track_step and its parts) live in sam2_tracking.py.

Frames: images are B x 3 x image_size x image_size, normalised; backbone features are stride 16
(image_size / 16 = h = w); high-res features stride 4 and 8. Point coordinates are (x, y) pixels of
the image_size x image_size model input. Flattened features are sequence-first: HW x B x C.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.init import trunc_normal_

from samkit.modeling.layers import MLP
from samkit.modeling.prompt_encoder import PromptEncoder
from samkit.modeling.sam2.mask_decoder import MaskDecoder
from samkit.modeling.sam2.sam2_tracking import SAM2TrackingMixin
from samkit.modeling.transformer import TwoWayTransformer

# Mask logit written where the object-score head says the object is absent.
NO_OBJ_SCORE = -1024.0


class SAM2Base(SAM2TrackingMixin, nn.Module):
    """The reference's constructor arguments (same names and defaults); see sam2's SAM2Base for the
    meaning of the video ones. samkit adds two attributes: `encoder_dtype` (the dtype the image
    encoder runs in under autocast; float32 = no autocast) and `config` (the Sam2Config that built
    the model, or None)."""

    def __init__(self, image_encoder: nn.Module, memory_attention: nn.Module, memory_encoder: nn.Module,
                 num_maskmem: int = 7, image_size: int = 512, backbone_stride: int = 16,
                 sigmoid_scale_for_mem_enc: float = 1.0, sigmoid_bias_for_mem_enc: float = 0.0,
                 binarize_mask_from_pts_for_mem_enc: bool = False,
                 use_mask_input_as_output_without_sam: bool = False, max_cond_frames_in_attn: int = -1,
                 directly_add_no_mem_embed: bool = False, use_high_res_features_in_sam: bool = False,
                 multimask_output_in_sam: bool = False, multimask_min_pt_num: int = 1,
                 multimask_max_pt_num: int = 1, multimask_output_for_tracking: bool = False,
                 use_multimask_token_for_obj_ptr: bool = False, iou_prediction_use_sigmoid: bool = False,
                 memory_temporal_stride_for_eval: int = 1, non_overlap_masks_for_mem_enc: bool = False,
                 use_obj_ptrs_in_encoder: bool = False, max_obj_ptrs_in_encoder: int = 16,
                 add_tpos_enc_to_obj_ptrs: bool = True, proj_tpos_enc_in_obj_ptrs: bool = False,
                 use_signed_tpos_enc_to_obj_ptrs: bool = False, only_obj_ptrs_in_the_past_for_eval: bool = False,
                 pred_obj_scores: bool = False, pred_obj_scores_mlp: bool = False, fixed_no_obj_ptr: bool = False,
                 soft_no_obj_ptr: bool = False, use_mlp_for_obj_ptr_proj: bool = False,
                 no_obj_embed_spatial: bool = False, sam_mask_decoder_extra_args: dict | None = None,
                 compile_image_encoder: bool = False) -> None:
        super().__init__()
        if proj_tpos_enc_in_obj_ptrs and not add_tpos_enc_to_obj_ptrs:
            raise ValueError("proj_tpos_enc_in_obj_ptrs=True needs add_tpos_enc_to_obj_ptrs=True")
        if fixed_no_obj_ptr and not (pred_obj_scores and use_obj_ptrs_in_encoder):
            raise ValueError("fixed_no_obj_ptr=True needs pred_obj_scores=True and use_obj_ptrs_in_encoder=True")
        self.encoder_dtype = torch.float32
        self.config = None
        # Optional runtime for inference image features (samkit.accel's OpenVINO encoder), set by load_model.
        self.encoder_backend = None

        # The image backbone; levels 0, 1, 2 feed the decoder with high-res features, else level 2 only.
        self.image_encoder = image_encoder
        self.use_high_res_features_in_sam = use_high_res_features_in_sam
        self.num_feature_levels = 3 if use_high_res_features_in_sam else 1
        self.use_obj_ptrs_in_encoder = use_obj_ptrs_in_encoder
        self.max_obj_ptrs_in_encoder = max_obj_ptrs_in_encoder
        if use_obj_ptrs_in_encoder:
            # Brings an image-size mask prompt to stride 4 and to the decoder's logit scale, so that
            # a mask given as output still yields an object pointer.
            self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.add_tpos_enc_to_obj_ptrs = add_tpos_enc_to_obj_ptrs
        self.proj_tpos_enc_in_obj_ptrs = proj_tpos_enc_in_obj_ptrs
        self.use_signed_tpos_enc_to_obj_ptrs = use_signed_tpos_enc_to_obj_ptrs
        self.only_obj_ptrs_in_the_past_for_eval = only_obj_ptrs_in_the_past_for_eval

        # Memory attention conditions the current frame on memories of past frames.
        self.memory_attention = memory_attention
        self.hidden_dim = image_encoder.neck.d_model

        # The memory encoder turns a frame and its predicted mask into a memory (mem_dim wide).
        self.memory_encoder = memory_encoder
        self.mem_dim = self.hidden_dim
        out_proj = getattr(memory_encoder, "out_proj", None)
        if out_proj is not None and hasattr(out_proj, "weight"):
            self.mem_dim = out_proj.weight.shape[0]
        self.num_maskmem = num_maskmem
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(num_maskmem, 1, 1, self.mem_dim))  # temporal encodings
        trunc_normal_(self.maskmem_tpos_enc, std=0.02)
        # The stand-in memory token (and its position) on frames without memories.
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, self.hidden_dim))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, self.hidden_dim))
        trunc_normal_(self.no_mem_embed, std=0.02)
        trunc_normal_(self.no_mem_pos_enc, std=0.02)
        self.directly_add_no_mem_embed = directly_add_no_mem_embed
        self.sigmoid_scale_for_mem_enc = sigmoid_scale_for_mem_enc
        self.sigmoid_bias_for_mem_enc = sigmoid_bias_for_mem_enc
        self.binarize_mask_from_pts_for_mem_enc = binarize_mask_from_pts_for_mem_enc
        self.non_overlap_masks_for_mem_enc = non_overlap_masks_for_mem_enc
        self.memory_temporal_stride_for_eval = memory_temporal_stride_for_eval
        self.use_mask_input_as_output_without_sam = use_mask_input_as_output_without_sam
        self.multimask_output_in_sam = multimask_output_in_sam
        self.multimask_min_pt_num = multimask_min_pt_num
        self.multimask_max_pt_num = multimask_max_pt_num
        self.multimask_output_for_tracking = multimask_output_for_tracking
        self.use_multimask_token_for_obj_ptr = use_multimask_token_for_obj_ptr
        self.iou_prediction_use_sigmoid = iou_prediction_use_sigmoid

        # SAM-style prompt encoder and mask decoder.
        self.image_size = image_size
        self.backbone_stride = backbone_stride
        self.sam_mask_decoder_extra_args = sam_mask_decoder_extra_args
        self.pred_obj_scores = pred_obj_scores
        self.pred_obj_scores_mlp = pred_obj_scores_mlp
        self.fixed_no_obj_ptr = fixed_no_obj_ptr
        self.soft_no_obj_ptr = soft_no_obj_ptr
        if pred_obj_scores and use_obj_ptrs_in_encoder:
            self.no_obj_ptr = nn.Parameter(torch.zeros(1, self.hidden_dim))
            trunc_normal_(self.no_obj_ptr, std=0.02)
        self.use_mlp_for_obj_ptr_proj = use_mlp_for_obj_ptr_proj
        self.no_obj_embed_spatial = None
        if no_obj_embed_spatial:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, self.mem_dim))
            trunc_normal_(self.no_obj_embed_spatial, std=0.02)
        self._build_sam_heads()
        self.max_cond_frames_in_attn = max_cond_frames_in_attn

        if compile_image_encoder:
            # Compile forward, not the module, so that checkpoints keep their keys.
            self.image_encoder.forward = torch.compile(self.image_encoder.forward, mode="max-autotune",
                                                       fullgraph=True, dynamic=False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, *args, **kwargs):
        raise NotImplementedError("SAM2Base has no forward: use SAM2ImagePredictor for images (or the "
                                  "video predictor for videos)")

    def _build_sam_heads(self) -> None:
        self.sam_prompt_embed_dim = self.hidden_dim
        self.sam_image_embedding_size = self.image_size // self.backbone_stride
        # Hyperparameters (mask_in_chans=16, depth 2, MLP 2048, 8 heads) are SAM's.
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=self.sam_prompt_embed_dim,
            image_embedding_size=(self.sam_image_embedding_size, self.sam_image_embedding_size),
            input_image_size=(self.image_size, self.image_size),
            mask_in_chans=16,
        )
        self.sam_mask_decoder = MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=self.sam_prompt_embed_dim, mlp_dim=2048,
                                          num_heads=8, mlp_layout="sam2"),
            transformer_dim=self.sam_prompt_embed_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
            use_high_res_features=self.use_high_res_features_in_sam,
            iou_prediction_use_sigmoid=self.iou_prediction_use_sigmoid,
            pred_obj_scores=self.pred_obj_scores,
            pred_obj_scores_mlp=self.pred_obj_scores_mlp,
            use_multimask_token_for_obj_ptr=self.use_multimask_token_for_obj_ptr,
            **(self.sam_mask_decoder_extra_args or {}),
        )
        if self.use_obj_ptrs_in_encoder:
            # Turns SAM output tokens into object pointers.
            self.obj_ptr_proj = (MLP(self.hidden_dim, self.hidden_dim, self.hidden_dim, 3)
                                 if self.use_mlp_for_obj_ptr_proj else nn.Linear(self.hidden_dim, self.hidden_dim))
        else:
            self.obj_ptr_proj = nn.Identity()
        if self.proj_tpos_enc_in_obj_ptrs:
            # Keeps the pointers' temporal encoding apart from the spatial one.
            self.obj_ptr_tpos_proj = nn.Linear(self.hidden_dim, self.mem_dim)
        else:
            self.obj_ptr_tpos_proj = nn.Identity()

    def _forward_sam_heads(self, backbone_features: torch.Tensor, point_inputs: dict | None = None,
                           mask_inputs: torch.Tensor | None = None,
                           high_res_features: list[torch.Tensor] | None = None, multimask_output: bool = False):
        """Prompt encoder + mask decoder on a batch of B frames/objects.

        backbone_features: B x C x h x w; point_inputs: {"point_coords": B x P x 2 (x, y model-input
        pixels), "point_labels": B x P (1 fg, 0 bg, 2/3 box corners, -1 padding)}; mask_inputs:
        B x 1 x H' x W' logits (resized to the prompt encoder's 4h x 4w); high_res_features: None or
        [B x C/8 x 4h x 4w, B x C/4 x 2h x 2w] (after conv_s0 / conv_s1).

        Returns (low_res_multimasks B x M x 4h x 4w, high_res_multimasks B x M x image_size x
        image_size, ious B x M, low_res_masks B x 1 x 4h x 4w, high_res_masks B x 1 x ..., obj_ptr
        B x C, object_score_logits B x 1), M = 3 with multimask_output else 1; the single masks are
        the ones with the highest predicted IoU.
        """
        b = backbone_features.shape[0]
        device = backbone_features.device
        expected = (self.sam_prompt_embed_dim, self.sam_image_embedding_size, self.sam_image_embedding_size)
        if tuple(backbone_features.shape[1:]) != expected:
            raise ValueError(f"backbone_features must be B x {expected[0]} x {expected[1]} x {expected[2]}, "
                             f"got {tuple(backbone_features.shape)}")
        if point_inputs is not None:
            coords, labels = point_inputs["point_coords"], point_inputs["point_labels"]
            if coords.shape[0] != b or labels.shape[0] != b:
                raise ValueError(f"point_inputs batch ({coords.shape[0]}, {labels.shape[0]}) must be {b}")
        else:
            # No points: one padding point, as in training.
            coords = torch.zeros(b, 1, 2, device=device)
            labels = -torch.ones(b, 1, dtype=torch.int32, device=device)
        sam_mask_prompt = None
        if mask_inputs is not None:
            if mask_inputs.ndim != 4 or tuple(mask_inputs.shape[:2]) != (b, 1):
                raise ValueError(f"mask_inputs must be {b} x 1 x H x W, got {tuple(mask_inputs.shape)}")
            sam_mask_prompt = mask_inputs
            if tuple(mask_inputs.shape[-2:]) != tuple(self.sam_prompt_encoder.mask_input_size):
                sam_mask_prompt = F.interpolate(mask_inputs.float(), size=self.sam_prompt_encoder.mask_input_size,
                                                align_corners=False, mode="bilinear", antialias=True)
        sparse, dense = self.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=sam_mask_prompt)
        low_res_multimasks, ious, sam_output_tokens, object_score_logits = self.sam_mask_decoder(
            image_embeddings=backbone_features,
            image_pe=self.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=False,  # one image per prompt already
            high_res_features=high_res_features,
        )
        if self.pred_obj_scores:
            is_obj_appearing = object_score_logits > 0
            # Masks for the memory are a hard choice between object and no object.
            low_res_multimasks = torch.where(is_obj_appearing[:, None, None], low_res_multimasks, NO_OBJ_SCORE)
        low_res_multimasks = low_res_multimasks.float()
        high_res_multimasks = F.interpolate(low_res_multimasks, size=(self.image_size, self.image_size),
                                            mode="bilinear", align_corners=False)
        sam_output_token = sam_output_tokens[:, 0]
        if multimask_output:
            best = torch.argmax(ious, dim=-1)
            batch = torch.arange(b, device=device)
            low_res_masks = low_res_multimasks[batch, best].unsqueeze(1)
            high_res_masks = high_res_multimasks[batch, best].unsqueeze(1)
            if sam_output_tokens.shape[1] > 1:
                sam_output_token = sam_output_tokens[batch, best]
        else:
            low_res_masks, high_res_masks = low_res_multimasks, high_res_multimasks
        obj_ptr = self.obj_ptr_proj(sam_output_token)
        if self.pred_obj_scores:
            # The pointer may mix in no_obj_ptr softly (unlike the masks).
            lam = object_score_logits.sigmoid() if self.soft_no_obj_ptr else is_obj_appearing.float()
            if self.fixed_no_obj_ptr:
                obj_ptr = lam * obj_ptr
            obj_ptr = obj_ptr + (1 - lam) * self.no_obj_ptr
        return (low_res_multimasks, high_res_multimasks, ious, low_res_masks, high_res_masks, obj_ptr,
                object_score_logits)

    def _use_mask_as_output(self, backbone_features: torch.Tensor, high_res_features: list[torch.Tensor] | None,
                            mask_inputs: torch.Tensor):
        """Turn a binary mask B x 1 x H x W (image size) into outputs shaped like _forward_sam_heads's,
        without the decoder (except to make an object pointer when pointers are used)."""
        out_scale, out_bias = 20.0, -10.0  # logits -10 / +10: probabilities ~0 / ~1
        mask_inputs_float = mask_inputs.float()
        high_res_masks = mask_inputs_float * out_scale + out_bias
        low_res_masks = F.interpolate(high_res_masks, size=(high_res_masks.shape[-2] // 4, high_res_masks.shape[-1] // 4),
                                      align_corners=False, mode="bilinear", antialias=True)
        ious = mask_inputs.new_ones(mask_inputs.shape[0], 1).float()  # a dummy IoU of 1
        if not self.use_obj_ptrs_in_encoder:
            obj_ptr = torch.zeros(mask_inputs.shape[0], self.hidden_dim, device=mask_inputs.device)
        else:
            obj_ptr = self._forward_sam_heads(backbone_features=backbone_features,
                                              mask_inputs=self.mask_downsample(mask_inputs_float),
                                              high_res_features=high_res_features)[5]
        # Whether the object appears follows the given mask, not the decoder's object score.
        lam = torch.any(mask_inputs.flatten(1).float() > 0.0, dim=1)[..., None].float()
        object_score_logits = out_scale * lam + out_bias
        if self.pred_obj_scores:
            if self.fixed_no_obj_ptr:
                obj_ptr = lam * obj_ptr
            obj_ptr = obj_ptr + (1 - lam) * self.no_obj_ptr
        return low_res_masks, high_res_masks, ious, low_res_masks, high_res_masks, obj_ptr, object_score_logits

    def forward_image(self, img_batch: torch.Tensor) -> dict:
        """img_batch: B x 3 x image_size x image_size (normalised) -> backbone_out:
        {"vision_features": B x C x h x w, "vision_pos_enc": [per level], "backbone_fpn": [per level,
        finest first]}, all float32. With high-res features, levels 0 and 1 of backbone_fpn are already
        projected by the decoder's conv_s0 / conv_s1 (once per image instead of once per click).
        With an encoder_backend that still matches the weights (inference only), the backend computes
        the backbone_fpn levels (high-res projections included) and torch adds the position encodings."""
        backend = getattr(self, "encoder_backend", None)
        if backend is not None and not torch.is_grad_enabled() and backend.serves(self, img_batch):
            return self._backbone_out_of(backend(img_batch))
        reduced = self.encoder_dtype in (torch.bfloat16, torch.float16)  # else fp32 (an int8 backend's fallback)
        autocast = (torch.autocast(img_batch.device.type, dtype=self.encoder_dtype)
                    if reduced else contextlib.nullcontext())
        with autocast:
            backbone_out = self.image_encoder(img_batch)
        if reduced:
            # Position encodings depend only on the map size: take the neck's cached fp32 ones rather
            # than converting (allocating) up to 256 x 256 x 256 values per image.
            pos_enc = getattr(getattr(self.image_encoder, "neck", None), "position_encoding", None)
            shared = getattr(pos_enc, "shared_encoding", None)
            pos = backbone_out.get("vision_pos_enc")
            backbone_out = {k: _to_fp32(v) for k, v in backbone_out.items() if k != "vision_pos_enc"}
            if pos is not None:
                backbone_out["vision_pos_enc"] = ([shared(p, torch.float32) for p in pos] if shared is not None
                                                  else _to_fp32(pos))
        if self.use_high_res_features_in_sam:
            backbone_out["backbone_fpn"][0] = self.sam_mask_decoder.conv_s0(backbone_out["backbone_fpn"][0])
            backbone_out["backbone_fpn"][1] = self.sam_mask_decoder.conv_s1(backbone_out["backbone_fpn"][1])
        return backbone_out

    def _backbone_out_of(self, levels: list[torch.Tensor]) -> dict:
        """forward_image's dict from a backend's backbone_fpn levels (fp32, finest first): the
        position encodings depend only on the map sizes, so they come from the neck's cache."""
        pos_enc = self.image_encoder.neck.position_encoding
        shared = getattr(pos_enc, "shared_encoding", None)
        pos = [shared(f, torch.float32) if shared is not None else pos_enc(f).float() for f in levels]
        return {"vision_features": levels[-1], "vision_pos_enc": pos, "backbone_fpn": list(levels)}

    def _prepare_backbone_features(self, backbone_out: dict):
        """Flatten the last num_feature_levels levels: returns (backbone_out (a shallow copy),
        vision_feats [HW x B x C per level], vision_pos_embeds [same], feat_sizes [(h, w) per level])."""
        backbone_out = backbone_out.copy()
        if len(backbone_out["backbone_fpn"]) != len(backbone_out["vision_pos_enc"]):
            raise ValueError("backbone_fpn and vision_pos_enc must have one entry per level")
        if len(backbone_out["backbone_fpn"]) < self.num_feature_levels:
            raise ValueError(f"backbone_out has {len(backbone_out['backbone_fpn'])} levels, the model uses "
                             f"{self.num_feature_levels}")
        feature_maps = backbone_out["backbone_fpn"][-self.num_feature_levels :]
        pos_maps = backbone_out["vision_pos_enc"][-self.num_feature_levels :]
        feat_sizes = [(x.shape[-2], x.shape[-1]) for x in pos_maps]
        vision_feats = [x.flatten(2).permute(2, 0, 1) for x in feature_maps]
        vision_pos_embeds = [x.flatten(2).permute(2, 0, 1) for x in pos_maps]
        return backbone_out, vision_feats, vision_pos_embeds, feat_sizes


def _to_fp32(value):
    """Cast floating tensors (also inside lists) to float32; leave anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_fp32(v) for v in value)
    return value
