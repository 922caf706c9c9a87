"""`samkit serve`: the browser annotator's server (FastAPI). Needs the `serve` extra."""

from samkit.serve.app import create_app
from samkit.serve.image_folder import UploadLimits

__all__ = ["create_app", "UploadLimits"]
