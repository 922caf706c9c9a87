"""The annotator's video mode behind its HTTP endpoints: the served folder's videos, their stored
sessions, the SAM 2 video predictor (one, made when first needed, sharing the served model's
weights) and one tracker and propagation job per video.

Reading (the list, frames, masks, the DAVIS export) works with any model; prompting, removing and
propagating need a SAM 2 model and answer 409 otherwise. Problems are raised as HTTPException with
a message that names the video, frame or object: 404 for what does not exist (a video, a frame index
outside the video, an object), 409 for what the current state does not allow (a SAM 1 model, an
unreadable video, a running propagation), 422 for a prompt that cannot be used.

Inference states take memory (every tracked frame's memories), so only the `kept_states` most
recently used videos keep theirs; another video's is rebuilt from its stored prompts when needed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fastapi import HTTPException
from pycocotools import mask as mask_utils

from samkit.errors import InputError
from samkit.inference.model_family import is_sam2_model
from samkit.serve.video_catalog import VideoCatalog, VideoEntry, VideoInfo
from samkit.serve.video_export import write_davis_zip
from samkit.serve.video_frames import FrameImages
from samkit.serve.video_propagation import PropagationJob
from samkit.serve.video_schemas import (
    FrameMasks, FramePrompt, ObjectMask, PromptIn, PropagateIn, PropagationStatus, Segmentation, VideoObject,
    VideoRecord, VideoSession,
)
from samkit.serve.video_store import SESSION_FILE, StoredPrompt, VideoStore
from samkit.serve.video_tracker import VideoTracker, check_prompt

KEPT_STATES = 2
NEEDS_SAM2 = ("video mode needs a SAM 2 model: this server runs {name}, a SAM 1 model. Start it with a SAM 2 "
              "model, e.g. `samkit serve FOLDER --model sam2.1_hiera_t` (or --checkpoint sam2.1_hiera_tiny.pt)")


@dataclass
class _Session:
    entry: VideoEntry
    info: VideoInfo
    store: VideoStore
    tracker: VideoTracker | None = None
    job: PropagationJob | None = None
    used: float = field(default_factory=time.monotonic)


class VideoService:
    def __init__(self, folder: Path, state_dir: Path, model, kept_states: int = KEPT_STATES) -> None:
        """folder: the served folder; state_dir: its .samkit folder (sessions go to state_dir/videos)."""
        self.catalog = VideoCatalog(folder)
        self.frames = FrameImages()
        self.model = model
        self.sam2 = is_sam2_model(model)
        self.videos_dir = Path(state_dir) / "videos"
        self.kept_states = kept_states
        self.model_lock = threading.Lock()
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._predictor = None

    # ------------------------------------------------------------------ lookups
    def _entry(self, vid: str) -> VideoEntry:
        entry = self.catalog.entry(vid)
        if entry is None:
            raise HTTPException(404, f"no video with id {vid!r} in the folder (GET /api/videos lists them)")
        return entry

    def _readable(self, entry: VideoEntry) -> VideoInfo:
        info = self.catalog.info(entry)
        if info.error is not None:
            raise HTTPException(409, f"video {entry.rel} cannot be read: {info.error}")
        return info

    def _session(self, vid: str) -> _Session:
        entry = self._entry(vid)
        info = self._readable(entry)
        with self._lock:
            s = self._sessions.get(vid)
            if s is not None and (s.entry, s.info) != (entry, info):  # the file changed: start over
                if s.job is not None and s.job.running:
                    raise HTTPException(409, f"video {entry.rel} changed on disk while it is being propagated")
                if s.tracker is not None:
                    s.tracker.drop_state()
                s = None
            if s is None:
                store = VideoStore(self.videos_dir / vid, entry.rel, info.num_frames, info.width, info.height)
                s = self._sessions[vid] = _Session(entry, info, store)
            s.used = time.monotonic()
            return s

    @staticmethod
    def _frame(s: _Session, frame_idx: int) -> int:
        if not 0 <= frame_idx < s.info.num_frames:
            raise HTTPException(404, f"frame {frame_idx} is outside video {s.entry.rel}: it has {s.info.num_frames} "
                                     f"frames (0..{s.info.num_frames - 1})")
        return frame_idx

    @staticmethod
    def _object(s: _Session, obj_id: int, status: int = 404) -> int:
        if obj_id not in s.store.objects:
            raise HTTPException(status, f"video {s.entry.rel} has no object {obj_id}; its objects are "
                                        f"{s.store.objects}")
        return obj_id

    def _tracker(self, s: _Session) -> VideoTracker:
        """The session's tracker (SAM 2 only); refused while the video is being propagated."""
        if not self.sam2:
            raise HTTPException(409, NEEDS_SAM2.format(name=getattr(getattr(self.model, "config", None), "name",
                                                                    "a custom model")))
        if s.job is not None and s.job.running:
            raise HTTPException(409, f"video {s.entry.rel} is being propagated: wait for it to finish (GET "
                                     f"/api/videos/{s.entry.id}/propagate) or cancel it (DELETE)")
        if s.tracker is None:
            s.tracker = VideoTracker(self._video_predictor(), self.model_lock, str(s.entry.path), s.store)
        return s.tracker

    def _video_predictor(self):
        with self._lock:
            if self._predictor is None:
                from samkit.video.build_video import video_predictor_from_model

                # As build_sam2_video_predictor's post-processing (and `samkit track`): small holes
                # filled, clicked masks binarized for the memory. Every frame's outputs are kept so a
                # correction on a tracked frame refines its tracked mask.
                predictor = video_predictor_from_model(self.model, fill_hole_area=8)
                predictor.binarize_mask_from_pts_for_mem_enc = True
                predictor.show_progress = False
                self._predictor = predictor
            return self._predictor

    def _evict_states(self, keep: str) -> None:
        """Drop the inference states of all but the `kept_states` most recently used videos."""
        with self._lock:
            loaded = sorted((s for vid, s in self._sessions.items() if vid != keep and s.tracker is not None
                             and s.tracker.loaded and not (s.job is not None and s.job.running)),
                            key=lambda s: s.used, reverse=True)
        for s in loaded[max(0, self.kept_states - 1):]:
            s.tracker.drop_state()

    # ------------------------------------------------------------------ reading
    def records(self) -> list[VideoRecord]:
        return [self._record(e) for e in self.catalog.scan()]

    def _record(self, entry: VideoEntry) -> VideoRecord:
        info = self.catalog.info(entry)
        objects = masked = 0
        if info.error is None and (entry.id in self._sessions or (self.videos_dir / entry.id / SESSION_FILE).is_file()):
            store = self._session(entry.id).store
            objects, masked = len(store.objects), len(store.masked_frames())
        return VideoRecord(id=entry.id, name=entry.rel, kind=entry.kind, num_frames=info.num_frames, width=info.width,
                           height=info.height, num_objects=objects, num_masked_frames=masked, error=info.error)

    def session(self, vid: str) -> VideoSession:
        s = self._session(vid)
        with s.store.lock:
            objects = [VideoObject(obj_id=i, prompted_frames=s.store.prompted_frames(i)) for i in s.store.objects]
            return VideoSession(video=self._record(s.entry), objects=objects,
                                prompted_frames=s.store.prompted_frames(), masked_frames=s.store.masked_frames(),
                                propagation=self._status(s))

    def frame_jpeg(self, vid: str, frame_idx: int, max_side: int | None) -> bytes:
        entry = self._entry(vid)
        info = self._readable(entry)
        if not 0 <= frame_idx < info.num_frames:
            raise HTTPException(404, f"frame {frame_idx} is outside video {entry.rel}: it has {info.num_frames} "
                                     f"frames (0..{info.num_frames - 1})")
        try:
            return self.frames.jpeg(entry, info, frame_idx, max_side)
        except InputError as e:
            raise HTTPException(409, f"video {entry.rel}: {e}") from None

    def frame_masks(self, vid: str, frame_idx: int) -> FrameMasks:
        s = self._session(vid)
        with s.store.lock:
            return self._frame_masks(s, self._frame(s, frame_idx), s.store.labels(frame_idx))

    def _frame_masks(self, s: _Session, frame_idx: int, labels: np.ndarray | None,
                     obj_id: int | None = None) -> FrameMasks:
        store = s.store
        prompts = store.frame_prompts(frame_idx)
        objects = []
        for i in store.objects:
            mask = np.asfortranarray(labels == i if labels is not None else
                                     np.zeros((store.height, store.width), bool), dtype=np.uint8)
            rle = mask_utils.encode(mask)
            objects.append(ObjectMask(obj_id=i, area=int(mask_utils.area(rle)),
                                      bbox=[float(v) for v in mask_utils.toBbox(rle)],
                                      segmentation=Segmentation(size=[store.height, store.width],
                                                                counts=rle["counts"].decode())))
        source = "prompted" if prompts else ("tracked" if labels is not None else "none")
        return FrameMasks(frame_idx=frame_idx, width=store.width, height=store.height, source=source, obj_id=obj_id,
                          objects=objects,
                          prompts=[FramePrompt(obj_id=p.obj_id, frame_idx=p.frame_idx, points=p.points,
                                               labels=p.labels, box=p.box) for p in prompts])

    # ------------------------------------------------------------------ editing
    def add_prompt(self, vid: str, frame_idx: int, body: PromptIn) -> FrameMasks:
        s = self._session(vid)
        with s.store.lock:
            self._frame(s, frame_idx)
            tracker = self._tracker(s)
            store = s.store
            if body.obj_id is None:
                obj_id = store.new_object_id()
                if obj_id is None:
                    raise HTTPException(409, f"video {s.entry.rel} has 255 objects, the most a DAVIS label map holds")
            else:
                obj_id = self._object(s, body.obj_id, status=422)
            prompt = StoredPrompt(obj_id, frame_idx, [list(map(float, p)) for p in body.points], list(body.labels),
                                  None if body.box is None else [float(v) for v in body.box])
            try:
                check_prompt(prompt, store.width, store.height)
                labels = tracker.add_prompt(prompt)
            except InputError as e:
                raise HTTPException(422, f"prompt rejected: {e}") from None
            store.add_object(obj_id)
            store.set_prompt(prompt)
            store.write_labels(frame_idx, labels)
            store.save()
            out = self._frame_masks(s, frame_idx, labels, obj_id)
        self._evict_states(keep=vid)
        return out

    def clear_prompts(self, vid: str, frame_idx: int, obj_id: int | None) -> FrameMasks:
        s = self._session(vid)
        with s.store.lock:
            self._frame(s, frame_idx)
            if obj_id is not None:
                self._object(s, obj_id)
            tracker = self._tracker(s)
            store = s.store
            cleared = sorted({p.obj_id for p in store.frame_prompts(frame_idx) if obj_id in (None, p.obj_id)})
            labels = store.labels(frame_idx)
            if cleared:
                new_labels = tracker.clear_prompts(frame_idx, cleared)
                store.clear_prompts(frame_idx, obj_id)
                if new_labels is not None:
                    labels = new_labels
                    store.write_labels(frame_idx, labels)
                store.save()
            out = self._frame_masks(s, frame_idx, labels)
        self._evict_states(keep=vid)
        return out

    def remove_object(self, vid: str, obj_id: int) -> VideoSession:
        s = self._session(vid)
        with s.store.lock:
            self._object(s, obj_id)
            self._tracker(s).remove_object(obj_id)
            s.store.remove_object(obj_id)
        return self.session(vid)

    # ------------------------------------------------------------------ propagation
    def _status(self, s: _Session) -> PropagationStatus:
        return s.job.status() if s.job is not None else PropagationStatus(state="idle")

    def propagation(self, vid: str) -> PropagationStatus:
        return self._status(self._session(vid))

    def propagate(self, vid: str, body: PropagateIn) -> PropagationStatus:
        s = self._session(vid)
        with s.store.lock:
            tracker = self._tracker(s)
            store = s.store
            if not store.objects:
                raise HTTPException(409, f"video {s.entry.rel} has no objects yet: click an object on a frame first")
            unprompted = [i for i in store.objects if not store.prompted_frames(i)]
            if unprompted:
                raise HTTPException(409, f"object(s) {unprompted} of video {s.entry.rel} have no prompt on any frame: "
                                         "click them on a frame or remove them")
            start = store.prompted_frames()[0] if body.start_frame_idx is None else self._frame(s, body.start_frame_idx)
            s.job = PropagationJob(tracker, body.direction, start).start()
            status = s.job.status()
        self._evict_states(keep=vid)
        return status

    def cancel(self, vid: str) -> PropagationStatus:
        s = self._session(vid)
        job = s.job
        if job is not None and job.running:
            job.cancel()
            job.join(timeout=60)
        return self._status(s)

    # ------------------------------------------------------------------ export
    def export_zip(self, vid: str) -> tuple[Path, str]:
        """A temporary zip of the DAVIS masks (the caller deletes it) and its download name."""
        s = self._session(vid)
        return write_davis_zip(s.entry, s.info, s.store, s.store.root), f"{s.entry.name}_davis_masks.zip"

    def stop(self) -> None:
        """Cancel running propagations (the server is shutting down) and close the frame readers."""
        with self._lock:
            jobs = [s.job for s in self._sessions.values() if s.job is not None and s.job.running]
        for job in jobs:
            job.cancel()
        for job in jobs:
            job.join(timeout=30)
        self.frames.close()
