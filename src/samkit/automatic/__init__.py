"""Automatic mask generation ("segment everything"): grid prompts, filtering, NMS, RLE records."""

from samkit.automatic.generator import SamAutomaticMaskGenerator
from samkit.automatic.records import MaskRecord

__all__ = ["MaskRecord", "SamAutomaticMaskGenerator"]
