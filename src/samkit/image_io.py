"""Read user images into H x W x 3 uint8 RGB arrays, the way a person expects to see them.

Handles JPEG/PNG/TIFF/BMP/WebP, EXIF orientation, grayscale, palette, alpha, 16-bit and float
images (microscopy, medical). Every failure is an InputError that names the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from samkit.errors import InputError

DEFAULT_MAX_PIXELS = 200_000_000  # 200 MP: larger images are almost always a mistake (or a bomb)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def to_uint8_rgb(arr: np.ndarray, source: str = "image") -> np.ndarray:
    """Any H x W, H x W x 1/3/4 array -> H x W x 3 uint8.

    Integer images of more than 8 bits and float images are stretched from their min..max to 0..255
    (a 12-bit camera or a CT slice would otherwise look black); alpha is dropped.
    """
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"{source}: expected an H x W or H x W x 1/3/4 image, got shape {arr.shape}")
    if arr.shape[2] in (2, 4):  # gray+alpha or RGBA: drop alpha
        arr = arr[:, :, : arr.shape[2] - 1]
    if arr.dtype != np.uint8:
        a = arr.astype(np.float64)
        if not np.isfinite(a).all():
            raise InputError(f"{source}: image contains NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if arr.dtype == np.bool_ or (hi <= 255 and lo >= 0 and np.issubdtype(arr.dtype, np.integer)):
            a = a * (255.0 if arr.dtype == np.bool_ else 1.0)
        else:
            a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        arr = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as H x W x 3 uint8 RGB with EXIF orientation applied."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"image not found: {path}")
    if path.is_dir():
        raise InputError(f"expected an image file, got a directory: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise InputError(f"{path}: {w}x{h} = {w * h / 1e6:.0f} MP exceeds the {max_pixels / 1e6:.0f} MP limit")
                img = ImageOps.exif_transpose(img)
                arr = _pil_to_array(img)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputError(f"{path}: image too large ({e})") from None
    except UnidentifiedImageError:
        arr = _read_with_tifffile(path)
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise InputError(f"{path}: cannot decode image ({e})") from None
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"{path}: empty image ({arr.shape[1]}x{arr.shape[0]})")
    return to_uint8_rgb(arr, str(path))


def _pil_to_array(img: Image.Image) -> np.ndarray:
    if img.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(img).astype(np.uint16)
    img.load()  # force decoding here so truncated files fail inside load_image's error handling
    return np.asarray(img)


def _read_with_tifffile(path: Path) -> np.ndarray:
    """TIFF variants Pillow cannot open (float, multi-sample 16-bit): read with tifffile if present."""
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            import tifffile

            arr = np.asarray(tifffile.imread(path))
            while arr.ndim > 3:  # pages / z-stacks: take the first plane
                arr = arr[0]
            if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
                arr = np.moveaxis(arr, 0, -1)  # channels-first TIFF
            return arr
        except ImportError:
            pass
        except Exception as e:
            raise InputError(f"{path}: cannot decode TIFF ({e})") from None
    raise InputError(f"{path}: not a recognised image format (supported: {', '.join(IMAGE_SUFFIXES)})")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside `folder`, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
