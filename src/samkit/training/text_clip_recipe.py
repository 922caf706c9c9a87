"""The SAM paper's text-prompt training recipe, for a CLIP text path (samkit.modeling.text_open_clip).

Section 7.5 / D.5 of the paper: no text annotations are needed. During training the prompt of an
object is the CLIP *image* embedding of a crop around it, sent through the same projection a text
embedding takes; at inference the text embedding is used instead, which works because CLIP trains
its image and text embeddings into one space. CLIP stays frozen; the projection (and SAM's decoder,
when it trains) learn. `crop_prompt_tokens` gives the training prompt; `text_path_loss` is a step's
loss with any prompt tokens (crop embeddings in training, text for a check), reusing text_train's.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from samkit.training.text_train import masks_loss


def crop_boxes(image: torch.Tensor, boxes_xyxy: torch.Tensor, size: int, margin: float = 0.1) -> torch.Tensor:
    """image 3 x H x W in [0, 1]; boxes B x 4 (pixels of that image) -> B x 3 x size x size crops.

    Each box is grown by `margin` of its side on every side (CLIP sees a little context), clipped to
    the image, and resized (bilinear, with antialiasing when shrinking).
    """
    _, h, w = image.shape
    crops = []
    for x0, y0, x1, y1 in boxes_xyxy.tolist():
        mx, my = margin * (x1 - x0), margin * (y1 - y0)
        xa, ya = max(0, int(x0 - mx)), max(0, int(y0 - my))
        xb, yb = min(w, max(xa + 1, int(round(x1 + mx)))), min(h, max(ya + 1, int(round(y1 + my))))
        crop = image[:, ya:yb, xa:xb][None]
        crops.append(F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True))
    return torch.cat(crops)


def crop_prompt_tokens(text_encoder, image: torch.Tensor, boxes_xyxy: torch.Tensor) -> torch.Tensor:
    """The training prompt of B objects: CLIP image embeddings of their crops, projected: B x 1 x C.

    CLIP runs without gradients (frozen); the projection gets them.
    """
    tower = text_encoder.tower
    with torch.no_grad():
        clip_emb = tower.encode_image(crop_boxes(image, boxes_xyxy, tower.image_size))
    return text_encoder.embed_clip(clip_emb)


def text_path_loss(model, prompt_tokens: torch.Tensor, embeddings: torch.Tensor,
                   targets_lowres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """prompt_tokens B x 1 x C (crop or text), embeddings B x C x h x w, targets B x 4h x 4w ->
    (multimask min-loss + IoU MSE, IoU of the chosen masks B), as text_train's steps."""
    pe_enc = model.prompt_encoder
    h, w = pe_enc.image_embedding_size
    dense = pe_enc.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(embeddings.shape[0], -1, h, w)
    low_res, iou_pred = model.mask_decoder(embeddings, pe_enc.get_dense_pe(), prompt_tokens, dense,
                                           multimask_output=True)
    return masks_loss(low_res, iou_pred, targets_lowres)
