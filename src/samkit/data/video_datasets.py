"""Video folders as sources of clips: DAVIS, YouTube-VOS and SA-V layouts.

Layouts (JPEG frames named by frame number; a frame counts when it has an annotation):
- "davis": JPEGImages/<res>/<video>/*.jpg + Annotations/<res>/<video>/*.png (the <res> level,
  e.g. 480p, optional), one label PNG per frame, 0/255 (one object) or palette-indexed.
- "youtube_vos": JPEGImages/<video>/*.jpg + Annotations/<video>/*.png, palette-indexed and sparse
  (every 5th frame annotated), with an optional meta.json ({"videos": {<video>: ...}}) that lists
  the videos to use.
- "sa_v": JPEGImages_24fps/<video>/*.jpg + Annotations_6fps/<video>/<object>/*.png (or the same
  under JPEGImages/ + Annotations/): one binary PNG per object and annotated frame, as the
  reference's PNGRawDataset reads SA-V after extraction; a missing PNG means the object is absent.

`VideoClipSource` gives one item per video (a handle that draws clips, see samkit.data.clips);
`VideoFrameImages` gives every annotated frame as an image, so `build_dataset` can train SAM on
these layouts too. Both group records by video, so a train/val split never straddles one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samkit.data.base import RecordDataset
from samkit.data.clips import ClipSampling, RawClip, clip_key, pick_candidates, sample_frame_indices
from samkit.data.davis import is_davis_root, list_davis_frames, read_davis_labels, resolution_dirs
from samkit.data.records import InstanceSample
from samkit.errors import InputError, SamkitError
from samkit.image_io import read_label_image
from samkit.json_files import read_json

VIDEO_FORMATS = ("davis", "youtube_vos", "sa_v")
SAV_FRAME_DIRS = ("JPEGImages_24fps", "JPEGImages")
SAV_ANNOTATION_DIRS = ("Annotations_6fps", "Annotations")
START_TRIES = 10  # clip starts tried before a video counts as having no visible object


def sav_dirs(root: str | Path) -> tuple[Path, Path] | None:
    """(frame folder, annotation folder) of an SA-V style root, or None."""
    root = Path(root)
    frames = next((root / d for d in SAV_FRAME_DIRS if (root / d).is_dir()), None)
    anns = next((root / d for d in SAV_ANNOTATION_DIRS if (root / d).is_dir()), None)
    return (frames, anns) if frames and anns else None


def detect_video_format(root: str | Path) -> str | None:
    """"sa_v" (per-object PNG folders), "youtube_vos" (meta.json), "davis" or None (not a video root)."""
    root = Path(root)
    palette_names = is_davis_root(root)
    if palette_names:
        ann_dir = resolution_dirs(root)[1]
    elif sav_dirs(root) is not None:
        ann_dir = sav_dirs(root)[1]
    else:
        return None
    first_video = next((p for p in sorted(ann_dir.iterdir()) if p.is_dir()), None)
    if first_video is not None and any(p.is_dir() for p in first_video.iterdir()):
        return "sa_v"
    if not palette_names:
        return None
    return "youtube_vos" if (root / "meta.json").is_file() else "davis"


def _meta_videos(root: Path) -> list[str] | None:
    meta = root / "meta.json"
    if not meta.is_file():
        return None
    data = read_json(meta, "a YouTube-VOS meta.json")
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, (dict, list)) or not all(isinstance(v, str) and v for v in videos):
        raise InputError(f"{meta}: expected YouTube-VOS meta.json {{'videos': {{<video name>: ...}}}}")
    return sorted(videos)


def list_palette_videos(root: str | Path, frame_stride: int = 1, use_meta: bool = True,
                        issues=None) -> list[dict]:
    """DAVIS / YouTube-VOS: one record per video, {"key": frame folder, "group": video, "video",
    "frames": [jpg], "labels": [png]} with the annotated frames (every frame_stride-th)."""
    root = Path(root)
    names = _meta_videos(root) if use_meta else None
    if names is not None:
        on_disk = {p.name for p in resolution_dirs(root)[0].iterdir() if p.is_dir()}
        for missing in [n for n in names if n not in on_disk]:
            if issues is not None:
                issues.report(root / "meta.json", missing, "video listed in meta.json has no frame folder")
        names = [n for n in names if n in on_disk]
        if not names:
            raise InputError(f"{root / 'meta.json'}: none of its videos has a frame folder under {root}")
    listing = list_davis_frames(root, names, frame_stride)
    return [{"key": str(pairs[0][0].parent), "group": video, "video": video,
             "frames": [str(f) for f, _ in pairs], "labels": [str(a) for _, a in pairs]}
            for video, pairs in listing.items()]


def list_per_object_videos(root: str | Path, frame_stride: int = 1, issues=None) -> list[dict]:
    """SA-V: one record per video, {"key", "group", "video", "frames": [jpg], "objects": {object
    name: its PNG folder}}; the annotated frames are those with a PNG in any object folder."""
    dirs = sav_dirs(root)
    if dirs is None:
        raise InputError(f"{root} is not an SA-V folder (expected JPEGImages_24fps/ + Annotations_6fps/ or "
                         "JPEGImages/ + Annotations/ with one folder per object in each video)")
    frame_dir, ann_dir = dirs
    out = []
    for video_dir in sorted(p for p in ann_dir.iterdir() if p.is_dir()):
        objects = {p.name: str(p) for p in sorted(video_dir.iterdir()) if p.is_dir()}
        stems = sorted({f.stem for folder in objects.values() for f in Path(folder).glob("*.png")})
        frames = []
        for stem in stems:
            jpg = frame_dir / video_dir.name / f"{stem}.jpg"
            if jpg.is_file():
                frames.append(str(jpg))
            elif issues is not None:
                issues.report(video_dir, stem, f"annotated frame has no image {jpg}")
        frames = frames[::frame_stride]
        if frames:
            out.append({"key": str(frame_dir / video_dir.name), "group": video_dir.name, "video": video_dir.name,
                        "frames": frames, "objects": objects})
    if not out:
        raise InputError(f"no annotated frames found under {ann_dir}")
    return out


def list_videos(root: str | Path, fmt: str, frame_stride: int = 1, issues=None) -> list[dict]:
    if fmt == "sa_v":
        return list_per_object_videos(root, frame_stride, issues)
    if fmt in ("davis", "youtube_vos"):
        return list_palette_videos(root, frame_stride, fmt == "youtube_vos", issues)
    raise InputError(f"unknown video format {fmt!r}; expected one of {VIDEO_FORMATS}")


def _read_binary_png(path: Path) -> np.ndarray:
    arr = read_label_image(path, "object mask")
    return arr.max(axis=2) > 0 if arr.ndim == 3 else arr > 0


def _palette_has_object(path: str) -> bool:
    return bool(read_label_image(path, "annotation").any())


def frame_objects(record: dict, i: int, hw: tuple[int, int] | None = None, only: list | None = None) -> dict:
    """{object id: H x W bool} on annotated frame i of a video record. Palette layouts list the
    objects present; the per-object layout lists every object, or those in `only` (all False where
    it has no PNG, which needs the frame size `hw` unless some object has a PNG on this frame)."""
    if "labels" in record:
        labels = read_davis_labels(record["labels"][i])
        present = np.flatnonzero(np.bincount(labels.ravel()))  # np.unique, without its sort of every pixel
        return {int(v): labels == v for v in present if v != 0}
    stem = Path(record["frames"][i]).stem
    found = {}
    for name, folder in record["objects"].items():
        key = int(name) if name.isdigit() else name
        if only is not None and key not in only:
            continue  # SA-V videos can hold dozens of masklets: read only the clip's
        png = Path(folder) / f"{stem}.png"
        found[key] = _read_binary_png(png) if png.is_file() else None
    shapes = {m.shape for m in found.values() if m is not None}
    if len(shapes) > 1:
        raise InputError(f"{record['key']}: object masks of frame {stem} differ in size: {sorted(shapes)}")
    shape = hw or (shapes.pop() if shapes else None)
    if shape is None:
        raise InputError(f"{record['key']}: frame {stem} has no object PNG and no known size")
    return {k: (m if m is not None else np.zeros(shape, bool)) for k, m in found.items()}


def _check_size(record: dict, i: int, masks: dict, hw: tuple[int, int]) -> None:
    bad = [k for k, m in masks.items() if m.shape != hw]
    if bad:
        where = record["labels"][i] if "labels" in record else record["frames"][i]
        raise InputError(f"{where}: annotation {masks[bad[0]].shape} differs from its frame {hw}")


class VideoClip:
    """One video of a VideoClipSource: `sample(rng)` draws a RawClip (see samkit.data.clips)."""

    def __init__(self, record: dict, sampling: ClipSampling, source: str):
        self.record, self.sampling, self.source = record, sampling, source
        self.key = f"{source}/{record['video']}"

    def sample(self, rng: np.random.Generator) -> RawClip:
        from samkit.image_io import load_image

        rec, frames = self.record, self.record["frames"]
        for _ in range(START_TRIES):
            indices, stride = sample_frame_indices(rng, len(frames), self.sampling)
            first = frame_objects(rec, indices[0])
            visible = [k for k, m in first.items() if m.any()]
            if visible:
                break
        else:
            raise SamkitError(f"{self.key}: no object visible on the first frame of {START_TRIES} sampled clips")
        chosen = pick_candidates(rng, visible, self.sampling)
        images, masks = [], []
        for t, i in enumerate(indices):
            image = load_image(frames[i])
            objs = first if t == 0 else frame_objects(rec, i, image.shape[:2], chosen)
            _check_size(rec, i, objs, image.shape[:2])
            empty = np.zeros(image.shape[:2], bool)
            images.append(image)
            masks.append(np.stack([objs.get(k, empty) for k in chosen]))
        return RawClip(images, np.stack(masks), tuple(chosen),
                       clip_key(self.source, rec["video"], Path(frames[indices[0]]).stem, stride))


class VideoClipSource(RecordDataset):
    """A video folder (layout `fmt`, one of VIDEO_FORMATS) as a clip source: item i is the VideoClip
    of video i. Videos with fewer than sampling.num_frames annotated frames (after frame_stride,
    which keeps every n-th annotated frame, as the reference's sample_rate) are reported and left out."""

    def __init__(self, root: str | Path, fmt: str, sampling: ClipSampling, frame_stride: int = 1,
                 name: str | None = None):
        root = Path(root)
        super().__init__(name or f"{fmt}:{root.name}")
        self.sampling, self.source = sampling, root.name
        for rec in list_videos(root, fmt, frame_stride, self.issue_log):
            if len(rec["frames"]) < sampling.num_frames:
                self.issue_log.report(rec["key"], rec["video"], f"{len(rec['frames'])} annotated frames, fewer than "
                                      f"the {sampling.num_frames} a clip needs")
                continue
            self.records.append(rec)

    def load(self, record: dict) -> VideoClip:
        return VideoClip(record, self.sampling, self.source)


class VideoFrameImages(RecordDataset):
    """Every annotated frame of a video folder (every frame_stride-th per video) as one image whose
    instances are the objects present on it. records: {"key": frame jpg, "group": video, "video",
    "index", plus the video record's annotation fields}."""

    def __init__(self, root: str | Path, fmt: str, frame_stride: int = 1, name: str | None = None):
        root = Path(root)
        super().__init__(name or f"{fmt}:{root.name}")
        for rec in list_videos(root, fmt, frame_stride, self.issue_log):
            for i, frame in enumerate(rec["frames"]):
                try:
                    if "labels" in rec and not _palette_has_object(rec["labels"][i]):
                        continue  # an empty frame has nothing to train on (DavisFrames skips them too)
                except InputError as e:
                    self.issue_log.report(rec["labels"][i], rec["video"], str(e))
                    continue
                self.records.append({"key": frame, "group": rec["group"], "video": rec, "index": i})

    def load(self, record: dict) -> InstanceSample:
        from samkit.image_io import load_image

        image = load_image(record["key"])
        video, i = record["video"], record["index"]
        objs = frame_objects(video, i, image.shape[:2])
        _check_size(video, i, objs, image.shape[:2])
        ids = tuple(k for k, m in objs.items() if m.any())
        masks = np.stack([objs[k] for k in ids]) if ids else np.zeros((0, *image.shape[:2]), bool)
        return InstanceSample(image, masks, record["key"], ids)
