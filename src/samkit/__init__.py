"""samkit: the whole Segment Anything system. Re-exports only; importing does no work.

SAM 1 drop-ins (segment_anything): sam_model_registry, SamPredictor, SamAutomaticMaskGenerator.
SAM 2 drop-ins (sam2): build_sam2, SAM2ImagePredictor, SAM2AutomaticMaskGenerator,
build_sam2_video_predictor, SAM2VideoPredictor.
"""

from samkit.automatic import MaskRecord, SAM2AutomaticMaskGenerator, SamAutomaticMaskGenerator
from samkit.build import build_sam, load_checkpoint, load_model, sam_model_registry, save_checkpoint
from samkit.builder_sam2 import build_sam2, build_sam2_hf, from_pretrained
from samkit.config import PRESETS, SamConfig, get_preset
from samkit.config_sam2 import SAM2_PRESETS, Sam2Config
from samkit.errors import CheckpointError, InputError, SamkitError
from samkit.image_io import load_image
from samkit.inference.embedding import EmbeddingCache, ImageEmbedding
from samkit.inference.predictor import Prediction, SamPredictor
from samkit.inference.sam2_predictor import SAM2ImagePredictor
from samkit.inference.transforms import ResizeLongestSide
from samkit.video.build_video import build_sam2_video_predictor, build_sam2_video_predictor_hf
from samkit.video.video_predictor import SAM2VideoPredictor

__version__ = "0.1.0"

__all__ = [
    "PRESETS", "SAM2_PRESETS", "CheckpointError", "MaskRecord", "SamAutomaticMaskGenerator",
    "SAM2AutomaticMaskGenerator", "SAM2ImagePredictor", "SAM2VideoPredictor", "EmbeddingCache", "ImageEmbedding", "InputError",
    "Prediction", "ResizeLongestSide", "Sam2Config", "SamConfig", "SamPredictor", "SamkitError", "build_sam",
    "build_sam2", "build_sam2_hf", "build_sam2_video_predictor", "build_sam2_video_predictor_hf", "from_pretrained", "get_preset", "load_checkpoint", "load_image", "load_model",
    "sam_model_registry", "save_checkpoint",
]
