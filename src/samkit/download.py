"""Fetch the official checkpoints: resumable, SHA-256 verified, atomically renamed into place.

A partial download lives next to the target as NAME.part and is resumed with an HTTP Range request;
the final file appears only after its checksum matched, so a crash never leaves a corrupt checkpoint
under the real name.

SAM 2 / SAM 2.1 checkpoints (OFFICIAL_SAM2_CHECKPOINTS) have no SHA-256 that Meta publishes, and none
was found stated by another credible source when this table was written, so their `sha256` is None:
the download then checks that the file is a PyTorch zip archive and prints the SHA-256 it computed
(record it, or pass it back with --sha256 to pin it).
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from samkit.errors import DownloadError, InputError


@dataclass(frozen=True)
class OfficialCheckpoint:
    preset: str
    url: str
    sha256: str | None  # None: no published checksum (see the module docstring)
    size_bytes: int | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


OFFICIAL_CHECKPOINTS: dict[str, OfficialCheckpoint] = {
    "vit_b": OfficialCheckpoint("vit_b", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
                                "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", 375042383),
    "vit_l": OfficialCheckpoint("vit_l", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
                                "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"),
    "vit_h": OfficialCheckpoint("vit_h", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
                                "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", 2564550879),
    "vit_t": OfficialCheckpoint("vit_t", "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
                                "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f"),
}

_SAM2_URL = "https://dl.fbaipublicfiles.com/segment_anything_2"
OFFICIAL_SAM2_CHECKPOINTS: dict[str, OfficialCheckpoint] = {
    f"{family}_hiera_{short}": OfficialCheckpoint(f"{family}_hiera_{short}",
                                                  f"{_SAM2_URL}/{date}/{family}_hiera_{size}.pt", None)
    for family, date in (("sam2.1", "092824"), ("sam2", "072824"))
    for short, size in (("t", "tiny"), ("s", "small"), ("b+", "base_plus"), ("l", "large"))
}

CHUNK_BYTES = 1 << 20


def _official(preset: str) -> OfficialCheckpoint:
    if preset in OFFICIAL_CHECKPOINTS:
        return OFFICIAL_CHECKPOINTS[preset]
    from samkit.config_sam2 import resolve_sam2_name

    key = resolve_sam2_name(preset)  # also "sam2.1_hiera_tiny", "facebook/sam2.1-hiera-tiny"
    if key in OFFICIAL_SAM2_CHECKPOINTS:
        return OFFICIAL_SAM2_CHECKPOINTS[key]
    raise InputError(f"no official checkpoint for {preset!r}; choose one of "
                     f"{sorted(OFFICIAL_CHECKPOINTS) + sorted(OFFICIAL_SAM2_CHECKPOINTS)}")


def default_checkpoint_dir() -> Path:
    return Path(os.environ.get("SAMKIT_HOME", Path.home() / ".cache" / "samkit")) / "checkpoints"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


def download_checkpoint(preset: str, directory: str | os.PathLike | None = None, url: str | None = None,
                        sha256: str | None = None, progress: bool = True, timeout_s: float = 30.0) -> Path:
    """Download `preset`'s official checkpoint into `directory` and return its path.

    url/sha256 override the official ones (mirrors, tests). An existing file with the right checksum
    is kept as is; one with the wrong checksum is never overwritten silently (an error says so).
    """
    info = _official(preset)
    url = url or info.url
    expected = (sha256 or info.sha256 or "").lower() or None
    directory = Path(directory) if directory is not None else default_checkpoint_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / info.filename
    if target.exists():
        if expected is None or sha256_of(target) == expected:
            return target
        raise DownloadError(f"{target} exists but its SHA-256 does not match the official {preset} checkpoint; "
                            f"move it away and run again")
    part = target.with_name(target.name + ".part")
    _fetch_resumable(url, part, progress=progress, timeout_s=timeout_s, total_hint=info.size_bytes)
    got = sha256_of(part)
    if expected is None:
        with open(part, "rb") as f:
            if f.read(2) != b"PK":  # torch.save writes a zip archive; an HTML error page is not one
                part.unlink()
                raise DownloadError(f"{url} did not return a PyTorch checkpoint (partial file removed)")
        print(f"SHA-256 of {target.name}: {got} (no published checksum to compare with; pass --sha256 to pin it)",
              file=sys.stderr)
    elif got != expected:
        part.unlink()
        raise DownloadError(f"checksum mismatch for {url}: got {got}, expected {expected} (partial file removed)")
    os.replace(part, target)
    return target


def _fetch_resumable(url: str, part: Path, progress: bool, timeout_s: float, total_hint: int | None) -> None:
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "samkit", **({"Range": f"bytes={have}-"} if have else {})})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout_s)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the .part is already complete
            return
        raise DownloadError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, socket.timeout, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"cannot reach {url}: {reason} (no network? download it elsewhere and pass "
                            f"--checkpoint PATH)") from None
    with resp:
        if have and resp.status != 206:  # server ignored the Range header: start over
            have = 0
        length = resp.headers.get("Content-Length")
        total = (have + int(length)) if length is not None else total_hint
        with open(part, "ab" if have else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name.removesuffix(".part"),
            disable=not progress,
        ) as bar:
            try:
                for chunk in iter(lambda: resp.read(CHUNK_BYTES), b""):
                    f.write(chunk)
                    bar.update(len(chunk))
            except (OSError, socket.timeout) as e:
                raise DownloadError(f"download of {url} interrupted after {f.tell()} bytes ({e}); run the same "
                                    f"command again to resume") from None
        if total is not None and part.stat().st_size < total:
            raise DownloadError(f"download of {url} ended early ({part.stat().st_size} of {total} bytes); run the "
                                f"same command again to resume")
