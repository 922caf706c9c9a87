"""`sam2.sam2_video_predictor`: SAM2VideoPredictor (samkit.video.video_predictor)."""

from samkit.video.video_predictor import SAM2VideoPredictor

__all__ = ["SAM2VideoPredictor"]
