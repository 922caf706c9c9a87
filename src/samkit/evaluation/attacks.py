"""L-inf PGD attacks on SAM's input pixels.

- `embedding_attack` (prompt-agnostic): maximise || E(x + delta) - E(x) ||^2, the distortion of the
  image embedding. One perturbed image then breaks every prompt on it: the threat the encoder's
  "compute once, prompt many times" design makes cheap.
- `prompt_attack` (prompt-specific, for contrast): maximise the BCE between the mask logits for one
  given prompt (points or a box) and the GT mask, i.e. attack that object only.

Frames: `input_image` is 1 x 3 x h x w float in [0, 255], the *resized, unnormalised* model input
(ResizeLongestSide output, before `model.preprocess` normalises and pads). The budget `eps` is in
[0, 1] image units (eps = 4/255 allows +-4 grey levels). The perturbed image stays in [0, 255]
and is not re-quantised to uint8 (a rounding step would be a separate, weaker threat model).
The models need gradients through the encoder (samkit's modules have no no_grad inside); the
model's parameters are not changed (they only take part in the graph).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def _pgd(loss_fn, x_clean: torch.Tensor, eps: float, steps: int, step_size: Optional[float],
         generator: torch.Generator) -> torch.Tensor:
    """Projected gradient ascent of loss_fn(x) in the L-inf ball of radius eps*255 around x_clean."""
    if eps <= 0:
        return x_clean.detach().clone()
    radius = eps * 255.0
    alpha = (step_size if step_size is not None else 2.5 * eps / steps) * 255.0
    # Random start inside the ball (Madry et al.), seeded so the attack is reproducible.
    noise = torch.rand(x_clean.shape, generator=generator, dtype=torch.float32)
    delta = ((noise * 2 - 1) * radius).to(x_clean.device, x_clean.dtype)
    x = (x_clean + delta).clamp(0, 255).detach()
    for _ in range(steps):
        x.requires_grad_(True)
        loss = loss_fn(x)
        (grad,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            x = x + alpha * grad.sign()
            x = torch.min(torch.max(x, x_clean - radius), x_clean + radius).clamp(0, 255)
        x = x.detach()
    return x


def image_embedding(model, input_image: torch.Tensor) -> torch.Tensor:
    """B x C x h x w embedding of a 1 x 3 x h x w [0, 255] resized image (normalise + pad inside).

    Goes through `encode_images` when the model has it (samkit's Sam: honours a reduced encoder
    dtype), so the attack differentiates exactly the encoder path the predictor runs.
    """
    x = model.preprocess(input_image)
    encode = getattr(model, "encode_images", None)
    return encode(x) if encode is not None else model.image_encoder(x)


def embedding_attack(model, input_image: torch.Tensor, eps: float, steps: int = 10,
                     step_size: Optional[float] = None, seed: int = 0) -> torch.Tensor:
    """Prompt-agnostic PGD: returns the perturbed 1 x 3 x h x w image (see module docstring)."""
    x_clean = input_image.detach().float()
    with torch.no_grad():
        target = image_embedding(model, x_clean)
    g = torch.Generator().manual_seed(seed)
    return _pgd(lambda x: F.mse_loss(image_embedding(model, x), target, reduction="sum"),
                x_clean, eps, steps, step_size, g)


def prompt_logits(model, embedding: torch.Tensor, input_hw: tuple[int, int], orig_hw: tuple[int, int],
                  point_coords: Optional[torch.Tensor] = None, point_labels: Optional[torch.Tensor] = None,
                  boxes: Optional[torch.Tensor] = None, multimask_output: bool = False) -> torch.Tensor:
    """Differentiable 1 x C x H x W mask logits (original-image frame) for prompts already in the
    model-input frame (points 1 x N x 2, labels 1 x N, boxes 1 x 4)."""
    points = (point_coords, point_labels) if point_coords is not None else None
    sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=None)
    low_res, _ = model.mask_decoder(
        image_embeddings=embedding, image_pe=model.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=multimask_output,
    )
    return model.postprocess_masks(low_res, input_hw, orig_hw)


def prompt_attack(model, input_image: torch.Tensor, gt_mask: torch.Tensor, orig_hw: tuple[int, int],
                  eps: float, steps: int = 10, step_size: Optional[float] = None, seed: int = 0,
                  **prompt) -> torch.Tensor:
    """Prompt-specific PGD: maximise BCE(mask logits for `prompt`, gt_mask H x W in {0, 1}).

    `prompt` holds point_coords/point_labels and/or boxes in the model-input frame plus
    multimask_output, as for `prompt_logits`; with several masks the loss covers all of them.
    """
    x_clean = input_image.detach().float()
    input_hw = tuple(x_clean.shape[-2:])
    target = gt_mask.to(x_clean.device, torch.float32)[None, None]

    def loss_fn(x):
        logits = prompt_logits(model, image_embedding(model, x), input_hw, orig_hw, **prompt)
        return F.binary_cross_entropy_with_logits(logits, target.expand_as(logits))

    g = torch.Generator().manual_seed(seed)
    return _pgd(loss_fn, x_clean, eps, steps, step_size, g)
