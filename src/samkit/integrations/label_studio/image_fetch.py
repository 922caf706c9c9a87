"""Task images from Label Studio: uploads (/data/upload/...), local files (/data/local-files/?d=...),
and URLs. Label Studio's own paths are fetched from the `hostname` it sent in /setup with the
access token it sent there ("Authorization: Token ..."); other http(s) URLs are fetched as they are.
A URL that cannot be served is an InputError that says which URL and what the server answered."""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import numpy as np

from samkit.errors import InputError


@dataclass(frozen=True)
class LabelStudioAccess:
    hostname: str  # e.g. http://localhost:8080
    access_token: str


@dataclass
class FetchedImage:
    pixels: np.ndarray  # H x W x 3 uint8 RGB, EXIF orientation applied (as the browser shows it)
    data: bytes  # the file as served
    extension: str  # ".jpg", ".png", ... from the file's format


def resolve_url(url: str, access: LabelStudioAccess | None) -> tuple[str, dict[str, str]]:
    """The absolute URL to fetch and the headers to send with it."""
    if not isinstance(url, str) or not url:
        raise InputError("the task has no image URL in the field the labeling config's <Image value> names")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("http", "https"):
        if access and _same_origin(url, access.hostname):
            return url, {"Authorization": f"Token {access.access_token}"}
        return url, {}
    if parsed.scheme:
        raise InputError(f"image URL {url}: samkit cannot read {parsed.scheme}:// URLs; let Label Studio serve "
                         "them (cloud storage with presigned URLs or proxying, or a local files storage)")
    if access is None:
        raise InputError(f"image URL {url} is on Label Studio, but Label Studio has not sent /setup yet: "
                         "open the project's Model settings (or start samkit with --label-studio-url and --api-key)")
    return access.hostname.rstrip("/") + "/" + url.lstrip("/"), {"Authorization": f"Token {access.access_token}"}


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlparse(a), urllib.parse.urlparse(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def fetch_image(url: str, access: LabelStudioAccess | None, timeout_s: float = 30.0,
                max_bytes: int = 200 * 2**20) -> FetchedImage:
    return decode_image(fetch_bytes(url, access, timeout_s, max_bytes), url)


def fetch_bytes(url: str, access: LabelStudioAccess | None, timeout_s: float = 30.0,
                max_bytes: int = 200 * 2**20) -> bytes:
    """The file at a task's URL (an image or a video), as Label Studio serves it."""
    full, headers = resolve_url(url, access)
    request = urllib.request.Request(full, headers={"User-Agent": "samkit-label-studio", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as e:
        hint = " (is the access token valid?)" if e.code in (401, 403) else \
            " (is the file there, and is local file serving on?)" if e.code == 404 else ""
        raise InputError(f"Label Studio could not serve the file {url}: HTTP {e.code} {e.reason} from {full}{hint}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise InputError(f"could not fetch {url} from {full}: {reason}") from None
    if len(data) > max_bytes:
        raise InputError(f"{url} is larger than {max_bytes // 2**20} MB")
    return data


def decode_image(data: bytes, url: str) -> FetchedImage:
    from PIL import Image, ImageOps, UnidentifiedImageError

    from samkit.image_io import to_uint8_rgb

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or "PNG").lower()
            img = ImageOps.exif_transpose(img)
            pixels = to_uint8_rgb(np.asarray(img.convert("RGBA") if img.mode == "P" else img), url)
    except (UnidentifiedImageError, OSError) as e:
        head = data[:60].decode("utf-8", "replace").strip()
        raise InputError(f"{url} is not an image Pillow can read ({e}); the server sent: {head!r}...") from None
    ext = {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, "." + fmt)
    return FetchedImage(pixels, data, ext)
