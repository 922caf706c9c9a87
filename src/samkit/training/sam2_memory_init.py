"""Start SAM 2's memory attention as (nearly) the identity on image features, for training a SAM 2
whose image encoder and heads already work on images (samkit's built-in model: SAM 1 heads
transplanted, encoder distilled) but whose tracker is new.

With random weights the memory attention scrambles the features of every tracked frame, so the
decoder, which works on a conditioning frame's raw features, sees noise there and video training
spends its first thousands of steps undoing that. Instead, as ReZero / zero-init residual branches do:
- every residual branch's last projection (self-attention and cross-attention out_proj, the MLP's
  linear2) is zero, so each layer passes its input through unchanged until the branch learns (the
  branches' other weights keep their random init, so gradients reach them from the next step on);
- the final LayerNorm, which a raw feature does not pass on a conditioning frame, gets per-channel
  weights and biases fitted (least squares over sample features) so that LN(x) * w + b ~ x: image
  features end in a LayerNorm already, so their per-token mean and spread vary little and the fit
  is close (its relative error is returned).
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def zero_residual_branches(memory_attention: nn.Module) -> int:
    """Zero the output projections of every memory-attention layer's three residual branches.
    Returns how many Linear layers were zeroed."""
    count = 0
    for layer in memory_attention.layers:
        for lin in (layer.self_attn.out_proj, layer.cross_attn_image.out_proj, layer.linear2):
            lin.weight.zero_()
            if lin.bias is not None:
                lin.bias.zero_()
            count += 1
    return count


@torch.no_grad()
def fit_final_norm(norm: nn.LayerNorm, features: torch.Tensor) -> float:
    """Fit norm's per-channel weight and bias so that norm(x) ~ x on `features` (N x C tokens).
    Returns the relative error ||norm(x) - x|| / ||x|| after the fit."""
    x = features.float()
    z = torch.nn.functional.layer_norm(x, (x.shape[1],), eps=norm.eps)
    zc, xc = z - z.mean(0), x - x.mean(0)
    w = (zc * xc).sum(0) / (zc * zc).sum(0).clamp(min=1e-12)
    b = x.mean(0) - w * z.mean(0)
    norm.weight.copy_(w)
    norm.bias.copy_(b)
    return float((z * w + b - x).norm() / x.norm().clamp(min=1e-12))


@torch.no_grad()
def init_memory_attention_as_identity(sam, images: torch.Tensor) -> dict:
    """Apply both steps to `sam` (a SAM2Base), fitting the norm on the features of `images`
    (K x 3 x S x S, SAM 2 normalisation) at the memory attention's input: the top level of the
    backbone plus 0.1 x its position encoding when the model adds that at the input (as the
    memory attention will see them). Returns {"zeroed": n, "norm_rel_error": e}."""
    was_training = sam.training
    sam.eval()
    out = sam.forward_image(images)
    _, feats, pos, _ = sam._prepare_backbone_features(out)
    x = feats[-1]
    if getattr(sam.memory_attention, "pos_enc_at_input", False):
        x = x + 0.1 * pos[-1]
    zeroed = zero_residual_branches(sam.memory_attention)
    err = fit_final_norm(sam.memory_attention.norm, x.reshape(-1, x.shape[-1]))
    sam.train(was_training)
    return {"zeroed": zeroed, "norm_rel_error": err}
