"""`sam2.build_sam`: build_sam2, build_sam2_hf (samkit.builder_sam2) and the video predictor builders
(samkit.video.build_video)."""

from samkit.builder_sam2 import build_sam2, build_sam2_hf
from samkit.video.build_video import build_sam2_video_predictor, build_sam2_video_predictor_hf

__all__ = ["build_sam2", "build_sam2_hf", "build_sam2_video_predictor", "build_sam2_video_predictor_hf"]
