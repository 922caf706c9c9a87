"""Automatic mask generation ("segment everything"): grid prompts, filtering, NMS, RLE records."""

from samkit.automatic.generator import SamAutomaticMaskGenerator
from samkit.automatic.records import MaskRecord
from samkit.automatic.sam2_generator import SAM2AutomaticMaskGenerator

__all__ = ["MaskRecord", "SAM2AutomaticMaskGenerator", "SamAutomaticMaskGenerator"]
