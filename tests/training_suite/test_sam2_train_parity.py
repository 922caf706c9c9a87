"""SAM 2's training step against the reference's (sam2 1.1.0's training/model/sam2.py SAM2Train and
training/loss_fns.py MultiStepMultiMasksAndIous) on identical random weights: a clip with the GT
mask as the first frame's prompt (the one prompt path without random sampling), memory carried over
the clip, two objects of which one is occluded on a later frame. The loss and the gradients must match."""

import sys
import types

import pytest
import torch

from samkit.training.sam2_prompts import Sam2PromptConfig
from samkit.training.sam2_step import Sam2ClipStep

pytest.importorskip("sam2")
pytest.importorskip("hydra")

WEIGHTS = {"loss_mask": 20, "loss_dice": 1, "loss_iou": 1, "loss_class": 1}


def reference_training_modules():
    """(SAM2Train, MultiStepMultiMasksAndIous). Their modules import tensordict (not installed) and
    the whole reference trainer only for a dataclass and a constant: stand-ins for those two."""
    from reference_sam2 import import_reference_sam2

    import_reference_sam2()
    if "training.utils.data_utils" not in sys.modules:
        stub = types.ModuleType("training.utils.data_utils")
        stub.BatchedVideoDatapoint = object
        sys.modules["training.utils.data_utils"] = stub
    if "training.trainer" not in sys.modules:
        stub = types.ModuleType("training.trainer")
        stub.CORE_LOSS_KEY = "core_loss"
        sys.modules["training.trainer"] = stub
    from training.loss_fns import MultiStepMultiMasksAndIous
    from training.model.sam2 import SAM2Train

    return SAM2Train, MultiStepMultiMasksAndIous


class ReferenceBatch:
    """What SAM2Train reads of a BatchedVideoDatapoint, built from samkit's clip tensors."""

    def __init__(self, images, masks, valid):
        t_len = images.shape[1]
        clip, slot = torch.nonzero(valid, as_tuple=True)
        self.flat_img_batch = images.flatten(0, 1)
        self.num_frames = t_len
        self.masks = masks[clip, :, slot].transpose(0, 1)  # T x N x S x S
        self.flat_obj_to_img_idx = [clip * t_len + t for t in range(t_len)]


def clip_batch(size: int, t_len: int = 3):
    g = torch.Generator().manual_seed(0)
    images = torch.randn(1, t_len, 3, size, size, generator=g) * 0.3
    masks = torch.zeros(1, t_len, 2, size, size, dtype=torch.bool)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for t in range(t_len):
        disc = (xx - 60 - 12 * t) ** 2 + (yy - 90) ** 2 < 600
        masks[0, t, 0] = disc
        images[0, t, 0][disc] += 1.0
        if t != 1:  # object 2 is hidden on frame 1: an occlusion target
            square = (xx > 150) & (xx < 200) & (yy > 120 + 6 * t) & (yy < 170 + 6 * t)
            masks[0, t, 1] = square
            images[0, t, 2][square] += 1.0
    return images, masks, torch.tensor([[True, True]])


def test_loss_and_gradients_match_the_reference_training_code():
    from reference_sam2 import _plain_pooling_sizes, build_reference_sam2, reference_sam2_overrides

    from samkit.builder_sam2 import build_sam2_model
    from samkit.config_sam2 import get_sam2_preset

    SAM2Train, Loss = reference_training_modules()
    cfg = get_sam2_preset("sam2_test_tiny")
    config_file, overrides = reference_sam2_overrides(cfg)
    ref = build_reference_sam2(config_file, overrides + [
        f"++model._target_={SAM2Train.__module__}.SAM2Train", "++model.prob_to_use_pt_input_for_eval=0.0",
        "++model.num_init_cond_frames_for_eval=1", "++model.forward_backbone_per_frame_for_eval=false"])
    _plain_pooling_sizes(ref)
    ours = build_sam2_model(cfg)
    ours.load_state_dict(ref.state_dict(), strict=True)
    # eval(): dropout off on both sides, so the comparison is exact; gradients still flow.
    ref.eval(), ours.eval()
    images, masks, valid = clip_batch(cfg.image_size)

    batch = ReferenceBatch(images, masks, valid)
    ref_losses = Loss(dict(WEIGHTS), supervise_all_iou=True, iou_use_l1_loss=True, pred_obj_scores=True,
                      focal_gamma_obj_score=0.0, focal_alpha_obj_score=-1.0)(ref(batch), batch.masks)
    ref_losses["core_loss"].backward()

    step = Sam2ClipStep(ours, Sam2PromptConfig(prob_to_use_pt_input=0.0, num_init_cond_frames=1))
    loss, logs = step(images, masks, valid, seed=0)
    loss.backward()

    assert float(loss) == pytest.approx(float(ref_losses["core_loss"]), rel=1e-5)
    assert logs["object_score"] == pytest.approx(float(ref_losses["loss_class"]), rel=1e-5)
    assert logs["dice"] == pytest.approx(float(ref_losses["loss_dice"]), rel=1e-5)
    ref_grads = {n: p.grad for n, p in ref.named_parameters() if p.grad is not None}
    our_grads = {n: p.grad for n, p in ours.named_parameters() if p.grad is not None}
    assert set(ref_grads) == set(our_grads) and any(n.startswith("memory_attention.") for n in our_grads)
    for name, g in ref_grads.items():
        torch.testing.assert_close(our_grads[name], g, rtol=1e-4, atol=1e-6, msg=name)
