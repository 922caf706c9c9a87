"""Frame sources: JPEG/PNG folders read exactly as the reference reads them, video files decoded
with PyAV in any order, clear errors for bad input, and a bounded frame cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from synthetic_video import synthetic_frames, write_frame_folder, write_video

from samkit.errors import InputError
from samkit.video.frame_folder import list_frame_files
from samkit.video.open_frames import open_frame_source

SIZE = 64  # model input size for these tests


def test_folder_frames_equal_the_reference_loader(tmp_path):
    from reference_sam2 import import_reference_sam2

    import_reference_sam2()
    from sam2.utils.misc import load_video_frames_from_jpg_images

    folder = write_frame_folder(tmp_path / "v", synthetic_frames(5))
    ref_images, ref_h, ref_w = load_video_frames_from_jpg_images(str(folder), SIZE, offload_video_to_cpu=True,
                                                                 compute_device=torch.device("cpu"))
    source = open_frame_source(str(folder), SIZE)
    assert (len(source), source.video_height, source.video_width) == (5, ref_h, ref_w)
    for i in range(5):
        assert torch.equal(source[i], ref_images[i])
    assert torch.equal(source[-1], ref_images[4])


def test_folder_order_is_numeric_then_natural(tmp_path):
    frames = synthetic_frames(3)
    write_frame_folder(tmp_path / "num", frames, names=["10.jpg", "2.jpg", "0.jpeg"])
    assert list_frame_files(str(tmp_path / "num")) == ["0.jpeg", "2.jpg", "10.jpg"]
    write_frame_folder(tmp_path / "nat", frames, suffix=".png", names=["f10.png", "f2.png", "F1.png"])
    assert list_frame_files(str(tmp_path / "nat")) == ["F1.png", "f2.png", "f10.png"]
    # JPEGs win over PNGs in a mixed folder, as in the reference (which ignores PNGs).
    write_frame_folder(tmp_path / "nat", frames[:1], names=["5.jpg"])
    assert list_frame_files(str(tmp_path / "nat")) == ["5.jpg"]


def test_png_folder(tmp_path):
    frames = synthetic_frames(2)
    source = open_frame_source(str(write_frame_folder(tmp_path / "png", frames, suffix=".png")), SIZE)
    expected = np.array(Image.fromarray(frames[1]).resize((SIZE, SIZE)))
    assert np.array_equal(source.frame_uint8(1), expected)
    assert np.array_equal(source.original_frame(1), frames[1])


def test_bad_folders_and_indices(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no frames"):
        open_frame_source(str(tmp_path / "empty"), SIZE)
    with pytest.raises(InputError, match="not found"):
        open_frame_source(str(tmp_path / "missing.mp4"), SIZE)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match="not a folder of frames or a video file"):
        open_frame_source(str(tmp_path / "notes.txt"), SIZE)
    folder = write_frame_folder(tmp_path / "v", synthetic_frames(2))
    (folder / "00002.jpg").write_bytes(b"not a jpeg")
    source = open_frame_source(str(folder), SIZE)
    assert len(source) == 3
    with pytest.raises(InputError, match="frame 2"):
        source[2]
    with pytest.raises(InputError, match="outside the video"):
        source[3]


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    pytest.importorskip("av")
    return write_video(tmp_path_factory.mktemp("mp4") / "clip.mp4", synthetic_frames(12))


def _decode_all(path, size):
    """Every frame decoded front to back with PyAV and resized as the folders are."""
    import av

    with av.open(str(path)) as container:
        return [np.array(f.to_image().resize((size, size))) for f in container.decode(video=0)]


def test_video_file_frames_in_any_order(mp4):
    expected = _decode_all(mp4, SIZE)
    source = open_frame_source(str(mp4), SIZE)
    assert (len(source), source.video_height, source.video_width) == (12, 72, 96)
    orders = [range(12), range(11, -1, -1), [5, 0, 11, 3, 3, 9, 1, 8]]
    for order in orders:
        for i in order:
            assert np.array_equal(source.frame_uint8(i), expected[i]), i
            assert len(source.cached_frame_indices) <= source.cache_frames
    # Lossless H.264: the decoded frames are the synthetic ones up to RGB <-> YUV rounding.
    assert np.abs(source.original_frame(4).astype(int) - synthetic_frames(12)[4]).max() <= 3
    source.close()


def test_video_bytes_and_other_containers(mp4, tmp_path):
    from_bytes = open_frame_source(mp4.read_bytes(), SIZE)
    assert len(from_bytes) == 12 and torch.equal(from_bytes[7], open_frame_source(str(mp4), SIZE)[7])
    for name, codec in (("clip.webm", "libvpx-vp9"), ("clip.avi", "mpeg4"), ("clip.mov", "libx264")):
        path = write_video(tmp_path / name, synthetic_frames(5), codec=codec, lossless=False)
        source = open_frame_source(str(path), SIZE)
        assert (len(source), source.video_height, source.video_width) == (5, 72, 96), name
        assert source[4].shape == (3, SIZE, SIZE) and source[0].shape == (3, SIZE, SIZE)


def test_broken_video_file(tmp_path, mp4):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(InputError, match="bad.mp4"):
        open_frame_source(str(bad), SIZE)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(mp4.read_bytes()[: 200])
    with pytest.raises(InputError, match="truncated.mp4"):
        open_frame_source(str(truncated), SIZE)
