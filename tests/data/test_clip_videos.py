"""Video folders as clip sources: YouTube-VOS and SA-V layouts written here, DAVIS from shared data."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samkit.data import DatasetSpec, build_dataset
from samkit.data.clips import ClipSampling, sample_frame_indices
from samkit.data.specs import detect_format
from samkit.data.video_datasets import VideoClipSource, VideoFrameImages
from samkit.errors import InputError, SamkitError

from clip_layouts import H, OBJ1, OBJ2, W, write_sav, write_ytvos


def draws(source, seeds=range(40)):
    return [source[0].sample(np.random.default_rng(s)) for s in seeds]


def test_frame_indices_follow_start_stride_and_reversal():
    rng = np.random.default_rng(0)
    sampling = ClipSampling(num_frames=4, max_stride=3)
    strides = set()
    for _ in range(200):
        idx, stride = sample_frame_indices(rng, 20, sampling)
        assert len(idx) == 4 and 0 <= min(idx) and max(idx) < 20 and np.all(np.diff(idx) == stride)
        strides.add(stride)
    assert strides == {1, 2, 3}
    back = [sample_frame_indices(rng, 6, ClipSampling(3, max_stride=5, reverse_time_prob=1.0)) for _ in range(50)]
    assert all(s < 0 and np.all(np.diff(i) == s) for i, s in back) and {s for _, s in back} == {-1, -2}
    assert sample_frame_indices(rng, 4, ClipSampling(4, max_stride=3)) == ([0, 1, 2, 3], 1)
    with pytest.raises(SamkitError, match="4 annotated frames"):
        sample_frame_indices(rng, 4, ClipSampling(5))


def test_youtube_vos_layout_clips(tmp_path):
    root = write_ytvos(tmp_path)
    assert detect_format(DatasetSpec(str(root))).format == "youtube_vos"
    source = VideoClipSource(root, "youtube_vos", ClipSampling(num_frames=3, max_objects=3, max_stride=2))
    assert len(source) == 1  # v2 is too short, v3 has no frames: both reported
    assert sorted(str(i.item_id) for i in source.issues) == ["v2", "v3"]
    seen = set()
    for clip in draws(source):
        first, stride = clip.key.split("@")[1][:5], int(clip.key.split("@")[1][5:])
        seen.add((first, stride, clip.object_ids))
        assert clip.key.startswith(f"{tmp_path.name}/v1@") and len(clip.frames) == 3
        assert clip.masks.shape == (3, len(clip.object_ids), H, W) and clip.masks.dtype == bool
        assert clip.masks[0].any(axis=(1, 2)).all()  # every object is visible on frame 0
        assert clip.frames[0][0, 0, 0] == pytest.approx(8 * int(first), abs=3)  # frame 0 is the annotated frame `first`
    # N = 4 annotated frames, T = 3: stride 1 (2 does not fit), start 00000 or 00005. Object 2 is not on
    # 00000, so a clip from there tracks object 1 only; from 00005 both, in random order.
    assert {(f, s) for f, s, _ in seen} == {("00000", 1), ("00005", 1)}
    assert {ids for f, _, ids in seen if f == "00000"} == {(1,)}
    assert {tuple(sorted(ids)) for f, _, ids in seen if f == "00005"} == {(1, 2)}
    clip = next(c for c in draws(source) if c.key.endswith("00005+1"))
    o1 = clip.object_ids.index(1)
    assert clip.masks[2, o1].sum() == 0 and clip.masks[1, o1][OBJ1].all()  # gone on 00015: an occlusion target


def test_reversed_clips_start_on_the_last_frame(tmp_path):
    source = VideoClipSource(write_ytvos(tmp_path), "youtube_vos", ClipSampling(3, reverse_time_prob=1.0))
    keys = {(c.key.split("@")[1], c.object_ids) for c in draws(source)}
    # played backwards from 00015 (only object 2 there) or from 00010 (both objects)
    assert {k for k, _ in keys} == {"00015-1", "00010-1"}
    assert {tuple(sorted(ids)) for k, ids in keys if k == "00015-1"} == {(2,)}
    assert {tuple(sorted(ids)) for k, ids in keys if k == "00010-1"} == {(1, 2)}


def test_max_objects_and_determinism(tmp_path):
    source = VideoClipSource(write_ytvos(tmp_path), "youtube_vos", ClipSampling(3, max_objects=1, spare_objects=0))
    assert all(len(c.object_ids) == 1 for c in draws(source))
    a, b = (source[0].sample(np.random.default_rng(7)) for _ in range(2))
    assert a.key == b.key and a.object_ids == b.object_ids and np.array_equal(a.masks, b.masks)
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames))


def test_youtube_vos_frames_as_images(tmp_path):
    ds = build_dataset(DatasetSpec(str(write_ytvos(tmp_path))))
    assert isinstance(ds, VideoFrameImages)
    assert [(r["group"], Path(r["key"]).stem) for r in ds.records][:4] == [("v1", f"{t:05d}") for t in (0, 5, 10, 15)]
    assert ds[1].instance_ids == (1, 2) and ds[0].instance_ids == (1,)
    tr, va = ds.split(0.5, seed=3)
    assert {r["group"] for r in tr.records}.isdisjoint({r["group"] for r in va.records})


def test_sav_per_object_png_folders(tmp_path):
    root = write_sav(tmp_path)
    assert detect_format(DatasetSpec(str(root))).format == "sa_v"
    source = VideoClipSource(root, "sa_v", ClipSampling(num_frames=2, max_stride=1))
    assert len(source) == 1 and len(source.records[0]["frames"]) == 3  # 00000, 00004, 00008
    seen = {}
    for clip in draws(source):
        seen.setdefault(clip.key.split("@")[1], set()).add(tuple(sorted(clip.object_ids)))
        assert clip.masks[0].any(axis=(1, 2)).all()
    assert seen == {"00000+1": {(0,)}, "00004+1": {(0, 1)}}
    images = build_dataset(DatasetSpec(str(root)))
    assert isinstance(images, VideoFrameImages) and len(images) == 3
    s = images[1]
    assert s.instance_ids == (0, 1) and s.masks[1][OBJ2].all() and s.masks[1].sum() == 8 * 12
    assert images[0].instance_ids == (0,)  # object 001 has no PNG on 00000: absent


def test_bad_annotation_names_the_file(tmp_path):
    root = write_sav(tmp_path)
    bad = root / "Annotations_6fps" / "sav_1" / "000" / "00004.png"  # frame 1 of the only clip
    bad.write_bytes(b"broken")
    source = VideoClipSource(root, "sa_v", ClipSampling(num_frames=3, max_stride=1))
    with pytest.raises(InputError, match="00004.png"):
        source[0].sample(np.random.default_rng(0))
    Image.fromarray(np.zeros((H, W + 2), np.uint8)).save(bad)
    with pytest.raises(InputError, match="differ"):
        source[0].sample(np.random.default_rng(0))


@pytest.mark.data
def test_davis2016_clips(shared_data):
    from samkit.data.clip_loading import ClipExampleDataset, build_clip_sources, collate_clips
    from samkit.data.clip_transforms import ClipAugmentConfig

    (source,) = build_clip_sources([DatasetSpec(str(shared_data / "davis2016"))], num_frames=4, max_stride=3)
    assert isinstance(source, VideoClipSource) and len(source) == 10
    ds = ClipExampleDataset(source, 128, ClipAugmentConfig(), num_frames=4)
    batch = collate_clips([ds[(i, 100 + i)] for i in (0, 5)])
    assert batch.images.shape == (2, 4, 3, 128, 128) and batch.masks.shape == (2, 4, 1, 128, 128)
    assert batch.valid.all() and (batch.masks[:, 0].flatten(1).sum(1) >= 16).all()
    video, frame = batch.keys[0].split("/")[1].split("@")
    assert batch.keys[0].startswith("davis2016/") and video == source.records[0]["video"] and frame[:5].isdigit()
