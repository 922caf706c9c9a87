"""Read user images into H x W x 3 uint8 RGB arrays, the way a person expects to see them.

Handles JPEG/PNG/TIFF/BMP/WebP, EXIF orientation, grayscale, palette, alpha, 16-bit and float
images (microscopy, medical). Every failure is an InputError that names the file.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from samkit.errors import InputError

# 200 MP: larger images are almost always a mistake (or a decompression bomb). The environment
# variable SAMKIT_MAX_IMAGE_MP (megapixels) changes it for every command that reads images.
DEFAULT_MAX_PIXELS = 200_000_000
MAX_PIXELS_ENV = "SAMKIT_MAX_IMAGE_MP"


def max_pixels_setting() -> int:
    """The image size limit in pixels: SAMKIT_MAX_IMAGE_MP megapixels if set, else 200 MP."""
    value = os.environ.get(MAX_PIXELS_ENV)
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        mp = float(value)
    except ValueError:
        mp = -1.0
    if not 0 < mp < 1e7:
        raise InputError(f"{MAX_PIXELS_ENV}={value!r}: expected a positive number of megapixels")
    return int(mp * 1e6)
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


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as H x W x 3 uint8 RGB with EXIF orientation applied.

    max_pixels: refuse larger images (default: max_pixels_setting(), 200 MP). Every failure is an
    InputError naming the file: missing, empty, truncated, not an image, too large, NaN pixels.
    """
    max_pixels = max_pixels_setting() if max_pixels is None else max_pixels
    path = Path(path)
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except (OSError, ValueError) as e:  # a NUL byte or an over-long name
        raise InputError(f"cannot open image {str(path)[:300]!r}: {e}") from None
    if not exists:
        raise InputError(f"image not found: {path}")
    if is_dir:
        raise InputError(f"expected an image file, got a directory: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes), not an image")
    limit = f"exceeds the {_mp(max_pixels)} limit ({MAX_PIXELS_ENV} changes it)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # decoders' chatter about odd files: the outcome is reported
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            _let_pil_open(max_pixels)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise InputError(f"{path}: {w}x{h} = {_mp(w * h)} {limit}")
                img = ImageOps.exif_transpose(img)
                arr = _pil_to_array(img)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # PIL's check, before ours
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = _mp(int(found.group(1))) if found else "this size"
        raise InputError(f"{path}: an image of {size} {limit}") from None
    except UnidentifiedImageError:
        arr = _read_with_tifffile(path)
    except Exception as e:  # noqa: BLE001 - truncated or corrupt data breaks decoders in many ways
        raise InputError(f"{path}: cannot decode image ({type(e).__name__}: {str(e)[:200]})") from None
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"{path}: empty image ({arr.shape[1]}x{arr.shape[0]})")
    return to_uint8_rgb(arr, str(path))


def _let_pil_open(max_pixels: int) -> None:
    """PIL refuses images over its own (process-wide) limit before samkit can check; raise it to
    samkit's when that is larger. Only ever raised, so concurrent readers never see it lowered."""
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _mp(pixels: int) -> str:
    """Megapixels for a message: 900 MP, 61.6 MP, 0.0025 MP."""
    return f"{pixels / 1e6:.3g} MP"


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


def read_label_image(path: str | os.PathLike, what: str = "mask", mode: str | None = None) -> np.ndarray:
    """The pixel values of a mask, label map or annotation PNG/TIFF, as stored (palette indices,
    16-bit labels); mode: convert first ("RGB", "L"). Missing, empty, truncated, over-large
    (SAMKIT_MAX_IMAGE_MP) or undecodable files are an InputError naming the file and `what` it is."""
    path = Path(path)
    max_pixels = max_pixels_setting()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _let_pil_open(max_pixels)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise InputError(f"{path}: {what} of {w}x{h} = {_mp(w * h)} exceeds the {_mp(max_pixels)} limit "
                                     f"({MAX_PIXELS_ENV} changes it)")
                return np.array(im.convert(mode) if mode else im)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - missing, truncated, not an image, a bomb: all the user's file
        reason = "the file is empty" if path.is_file() and path.stat().st_size == 0 else \
            f"{type(e).__name__}: {str(e)[:200]}"
        raise InputError(f"{path}: cannot read {what} ({reason})") from None
