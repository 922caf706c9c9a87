"""samkit: the whole Segment Anything system. Re-exports only; importing does no work."""

from samkit.automatic import MaskRecord, SamAutomaticMaskGenerator
from samkit.build import build_sam, load_checkpoint, load_model, sam_model_registry, save_checkpoint
from samkit.config import PRESETS, SamConfig, get_preset
from samkit.errors import CheckpointError, InputError, SamkitError
from samkit.image_io import load_image
from samkit.inference.embedding import EmbeddingCache, ImageEmbedding
from samkit.inference.predictor import Prediction, SamPredictor
from samkit.inference.transforms import ResizeLongestSide

__version__ = "0.1.0"

__all__ = [
    "PRESETS", "CheckpointError", "MaskRecord", "SamAutomaticMaskGenerator", "EmbeddingCache", "ImageEmbedding", "InputError", "Prediction",
    "ResizeLongestSide", "SamConfig", "SamPredictor", "SamkitError", "build_sam", "get_preset", "load_checkpoint",
    "load_image", "load_model", "sam_model_registry", "save_checkpoint",
]
