"""`sam2.sam2_image_predictor`: SAM2ImagePredictor (samkit.inference.sam2_predictor)."""

from samkit.inference.sam2_predictor import SAM2ImagePredictor

__all__ = ["SAM2ImagePredictor"]
