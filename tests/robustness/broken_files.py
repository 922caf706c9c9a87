"""A corpus of broken and odd input files, built on the fly (nothing of it is in the repository).

`build_image_corpus(folder)` writes images a new user could hand to `samkit segment` / `auto`:
zero-byte, truncated, wrong extension, decompression bombs, every PIL mode, degenerate sizes.
Each entry says what samkit must do with it: "work" (any mode, size or aspect it can handle) or
"refuse" (exit 2 with one line naming the file). `png_bomb` writes a huge, tiny PNG without
allocating its pixels.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_bomb(path: Path, width: int, height: int) -> None:
    """A 1-bit grayscale PNG of width x height zeros: a few hundred KB on disk for any size."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    parts = [z.compress(row) for _ in range(height)] + [z.flush()]
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    path.write_bytes(png + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def _png(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, **kw).save(buf, format="PNG")
    return buf.getvalue()


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def build_image_corpus(folder: Path) -> dict[str, str]:
    """Write the corpus into `folder`; returns {file name: "work" | "refuse"}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    good_png, good_jpg = _png(rgb), _save(Image.fromarray(rgb), "JPEG")
    files: dict[str, tuple[bytes, str]] = {
        "zero_bytes.png": (b"", "refuse"),
        "zero_bytes.jpg": (b"", "refuse"),
        "truncated.png": (good_png[: len(good_png) // 2], "refuse"),
        "truncated.jpg": (good_jpg[: len(good_jpg) // 3], "refuse"),
        "header_only.png": (good_png[:33], "refuse"),
        "text_as.jpg": (b"this is a text file, not a photo\n" * 4, "refuse"),
        "html_as.png": (b"<!doctype html><title>404 Not Found</title>", "refuse"),
        "random_bytes.webp": (rng.integers(0, 256, 2000, dtype=np.uint8).tobytes(), "refuse"),
        "truncated.webp": (_save(Image.fromarray(rgb), "WEBP")[:60], "refuse"),
        "bad_header.bmp": (b"BM" + b"\xff" * 60, "refuse"),
        "truncated.tif": (_save(Image.fromarray(rgb), "TIFF")[:100], "refuse"),
        "png_named.jpg": (good_png, "work"),  # wrong extension, right content
        "jpeg_named.png": (good_jpg, "work"),
        "one_pixel.png": (_png(rgb[:1, :1]), "work"),
        "thin_3x20000.png": (_png(np.tile(rgb[:3, :1], (1, 20000, 1))), "work"),
        "tall_20000x3.png": (_png(np.tile(rgb[:1, :3], (20000, 1, 1))), "work"),
        "gray16.png": (_png((rng.random((40, 30)) * 65535).astype(np.uint16)), "work"),
        "bilevel.png": (_save(Image.fromarray(rgb).convert("1"), "PNG"), "work"),
        "palette_alpha.png": (_save(Image.fromarray(rgb).convert("P"), "PNG", transparency=0), "work"),
        "gray_alpha.png": (_save(Image.fromarray(rgb).convert("LA"), "PNG"), "work"),
        "rgba.png": (_save(Image.fromarray(rgb).convert("RGBA"), "PNG"), "work"),
        "cmyk.jpg": (_save(Image.fromarray(rgb).convert("CMYK"), "JPEG"), "work"),
        "int32.tif": (_save(Image.fromarray(rgb[..., 0].astype(np.int32) * 1000), "TIFF"), "work"),
        "float.tif": (_save(Image.fromarray(rng.random((20, 30)).astype(np.float32)), "TIFF"), "work"),
        "constant_float.tif": (_save(Image.fromarray(np.full((20, 30), 7.5, np.float32)), "TIFF"), "work"),
        "nan.tif": (_save(Image.fromarray(np.full((20, 30), np.nan, np.float32)), "TIFF"), "refuse"),
    }
    verdicts = {}
    for name, (data, verdict) in files.items():
        (folder / name).write_bytes(data)
        verdicts[name] = verdict
    png_bomb(folder / "bomb_30000x30000.png", 30000, 30000)  # 900 MP: over the 200 MP limit
    verdicts["bomb_30000x30000.png"] = "refuse"
    # A header that claims 100000 x 100000 pixels in front of nothing.
    (folder / "lying_header.png").write_bytes(good_png[:16] + struct.pack(">II", 100000, 100000) + good_png[24:])
    verdicts["lying_header.png"] = "refuse"
    (folder / "a_folder.png").mkdir(exist_ok=True)
    verdicts["a_folder.png"] = "refuse"
    return verdicts
