"""A small synthetic video for the SAM 2 video tests: moving shapes as frames, written as a JPEG/PNG
folder or as a video file with PyAV (tests/video/)."""

from __future__ import annotations

import numpy as np

VIDEO_HW = (72, 96)  # frame height, width in pixels (not the model's 256 x 256 input)


def synthetic_frames(num_frames: int = 8, hw: tuple[int, int] = VIDEO_HW, seed: int = 0) -> list[np.ndarray]:
    """num_frames H x W x 3 uint8 frames: a textured background, a red disc moving right and a
    blue square moving down."""
    rng = np.random.default_rng(seed)
    h, w = hw
    background = (rng.random((h, w, 3)) * 60 + 40).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(num_frames):
        f = background.copy()
        cx, cy = 20 + 5 * t, 30
        f[(xx - cx) ** 2 + (yy - cy) ** 2 <= 100] = (220, 40, 40)
        sx, sy = 60, 8 + 4 * t
        f[(xx >= sx) & (xx < sx + 16) & (yy >= sy) & (yy < sy + 16)] = (40, 60, 230)
        frames.append(f)
    return frames


def write_frame_folder(folder, frames, suffix: str = ".jpg", names=None):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        name = names[i] if names is not None else f"{i:05d}{suffix}"
        Image.fromarray(f).save(folder / name, quality=95) if suffix == ".jpg" else Image.fromarray(f).save(folder / name)
    return folder


def write_video(path, frames, codec: str = "libx264", fps: int = 10, lossless: bool = True):
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv444p" if codec == "libx264" and lossless else "yuv420p"
        if codec == "libx264" and lossless:
            stream.options = {"qp": "0", "g": "4"}  # lossless, a key frame every 4 frames
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
