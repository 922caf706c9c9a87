"""The images of the served folder: listing, reading as samkit sees them, and safe uploads.

Uploads are checked before anything is written (size in bytes, size in pixels, decodable image of a
supported format) and are written into the folder under a fresh name: an existing file is never
overwritten, and uploading the same bytes twice returns the existing image.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from samkit.image_io import IMAGE_SUFFIXES, load_image
from samkit.serve.store import ImageRow, Store

STATE_DIR = ".samkit"
# Formats a browser shows as-is; anything else (TIFF, 16-bit, EXIF-rotated...) is re-encoded as PNG.
BROWSER_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
SUFFIX_BY_FORMAT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}


class UploadRejected(Exception):
    """An upload that is refused; status is the HTTP code to answer (413 too large, 415 not an image)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may be; `samkit serve --max-upload-mb / --max-megapixels` set them."""

    max_bytes: int = 50 * 2**20
    max_pixels: int = 60_000_000

    def bytes_message(self, size_bytes: int) -> str:
        return (f"upload is {size_bytes / 2**20:.1f} MB; the limit is {self.max_bytes / 2**20:.1f} MB "
                "(samkit serve --max-upload-mb)")

    def pixels_message(self, pixels: int, size: str = "") -> str:
        return (f"image is {size + ' = ' if size else ''}{pixels / 1e6:.1f} MP; the limit is "
                f"{self.max_pixels / 1e6:.1f} MP (samkit serve --max-megapixels)")


class ImageFolder:
    def __init__(self, folder: str | Path, store: Store) -> None:
        self.folder = Path(folder).resolve()
        self.store = store
        self.display_dir = self.folder / STATE_DIR / "display"

    # ------------------------------------------------------------------ listing
    def scan(self) -> list[ImageRow]:
        """Register every image file in the folder (recursively, skipping hidden folders)."""
        known = {row.file_name: row for row in self.store.images()}
        rows = [self.register(path, known) for path in sorted(self._image_files())]
        return [r for r in rows if r is not None]

    def _image_files(self):
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    yield Path(root) / name

    def register(self, path: Path, known: dict[str, ImageRow] | None = None) -> ImageRow | None:
        """The store's row for `path`, refreshed if the file changed. None if it is not readable.

        known: rows already read from the store by file name (saves a query per file when scanning).
        """
        rel = path.relative_to(self.folder).as_posix()
        stat = path.stat()
        row = known.get(rel) if known is not None else self.store.image_by_name(rel)
        if row and row.file_size == stat.st_size and row.mtime_ns == stat.st_mtime_ns and row.width:
            return row
        try:
            width, height = _oriented_size(path)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
            width = height = None
            try:  # formats PIL cannot open (float TIFF): decode fully
                h, w = load_image(path).shape[:2]
                width, height = w, h
            except Exception:
                return None
        return self.store.upsert_image(rel, width, height, stat.st_size, stat.st_mtime_ns, pixel_key=None)

    def path_of(self, row: ImageRow) -> Path:
        path = (self.folder / row.file_name).resolve()
        if self.folder not in path.parents:
            raise FileNotFoundError(row.file_name)
        return path

    def pixels(self, row: ImageRow) -> np.ndarray:
        """H x W x 3 uint8 RGB, exactly what the model encodes (samkit.image_io.load_image)."""
        return load_image(self.path_of(row))

    def display_file(self, row: ImageRow) -> tuple[Path, str]:
        """A file the browser can show that looks like what samkit sees, and its media type."""
        path = self.path_of(row)
        with Image.open(path) as img:
            fmt, mode = img.format, img.mode
            orientation = img.getexif().get(0x0112, 1)
        if fmt in BROWSER_FORMATS and mode in ("RGB", "L") and orientation == 1:
            return path, BROWSER_FORMATS[fmt]
        stat = path.stat()
        cached = self.display_dir / f"{row.id}-{stat.st_size}-{stat.st_mtime_ns}.png"
        if not cached.is_file():
            self.display_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(cached, _png_bytes(self.pixels(row)))
        return cached, "image/png"

    # ------------------------------------------------------------------ uploads
    def add_upload(self, original_name: str, data: bytes, limits: UploadLimits) -> ImageRow:
        """Validate and write an uploaded image into the folder; returns its (new or existing) row."""
        if len(data) > limits.max_bytes:
            raise UploadRejected(413, limits.bytes_message(len(data)))
        if not data:
            raise UploadRejected(415, "the uploaded file is empty, not an image")
        fmt = _check_image_bytes(data, limits)
        digest = hashlib.sha256(data).hexdigest()
        stem = _safe_stem(original_name)
        suffix = SUFFIX_BY_FORMAT[fmt]
        for i in range(10_000):
            name = f"{stem}{'' if i == 0 else f'-{i}'}{suffix}"
            target = self.folder / name
            if target.exists():
                if hashlib.sha256(target.read_bytes()).hexdigest() == digest:
                    return self.register(target)  # the same image again: no duplicate file
                continue
            if _write_new_file(target, data):
                return self.register(target)
        raise UploadRejected(409, f"too many files named {stem}*{suffix} in the folder")


def _oriented_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        w, h = img.size
        if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # 90-degree rotations swap the sides
            w, h = h, w
    return w, h


def _check_image_bytes(data: bytes, limits: UploadLimits) -> str:
    """Decode the upload fully (catches truncated files); return its PIL format name."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format
                w, h = img.size
                if w * h > limits.max_pixels:
                    raise UploadRejected(413, limits.pixels_message(w * h, f"{w}x{h}"))
                if fmt not in SUFFIX_BY_FORMAT:
                    raise UploadRejected(415, f"{fmt} images are not supported; upload JPEG, PNG, WebP, TIFF or BMP")
                ImageOps.exif_transpose(img).load()
    except UploadRejected:
        raise
    except Image.DecompressionBombError as e:  # over PIL's own limit: report samkit's
        found = re.search(r"\((\d+) pixels\)", str(e))
        raise UploadRejected(413, limits.pixels_message(int(found.group(1))) if found else
                             f"image is over the {limits.max_pixels / 1e6:.1f} MP limit "
                             "(samkit serve --max-megapixels)") from None
    except UnidentifiedImageError:
        raise UploadRejected(415, "not a readable image: the file is not JPEG, PNG, WebP, TIFF or BMP") from None
    except Exception as e:  # noqa: BLE001 - untrusted bytes: any decoder failure means "not readable"
        raise UploadRejected(415, f"not a readable image: its data is truncated or corrupt ({_one_line(e)})") from None
    return fmt


def _one_line(e: BaseException) -> str:
    """An exception's message without object reprs or line breaks (it goes to the client)."""
    text = re.sub(r"<[^<>]* at 0x[0-9a-f]+>", "the upload", str(e))
    return re.sub(r"\s+", " ", text).strip()[:200] or type(e).__name__


def _safe_stem(original_name: str) -> str:
    stem = Path(original_name.replace("\\", "/")).stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100]
    return stem or "upload"


def _write_new_file(target: Path, data: bytes) -> bool:
    """Write data to a temporary file, then link it to target only if target does not exist."""
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, target)  # atomic and fails when the name is taken: never overwrites
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()
