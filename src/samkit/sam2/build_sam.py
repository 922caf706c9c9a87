"""`sam2.build_sam`: build_sam2, build_sam2_hf (samkit.build_sam2)."""

from samkit.build_sam2 import build_sam2, build_sam2_hf

__all__ = ["build_sam2", "build_sam2_hf"]
