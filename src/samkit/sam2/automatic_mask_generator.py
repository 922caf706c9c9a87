"""`sam2.automatic_mask_generator`: SAM2AutomaticMaskGenerator (samkit.automatic.sam2_generator)."""

from samkit.automatic.sam2_generator import SAM2AutomaticMaskGenerator

__all__ = ["SAM2AutomaticMaskGenerator"]
