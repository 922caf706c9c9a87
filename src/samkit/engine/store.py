"""The data engine's SQLite store (DIR/engine.sqlite): images, masks with provenance, leases, reviews, models.

Every write is one `BEGIN IMMEDIATE` transaction, so a process killed at any moment (kill -9 in
the middle of a stage) leaves the store as it was before or after the write, never half of it: an
accepted mask that add_mask returned is on disk (WAL + synchronous=FULL). Readers never block the
writer (WAL). Each thread gets its own connection (sqlite3 connections are not shareable across
threads); several processes (two annotators' servers, a stage-3 run) may use one store at once.

Concurrency rules that keep two annotators from overwriting each other:
- masks are only added, never replaced; a state change names the version it read
  (`set_mask_state(..., expected_version=)`) and raises VersionConflict when another writer got
  there first;
- a retried add (same client_id) returns the first row instead of adding a duplicate;
- an image is leased to one annotator per stage at a time (`claim_next_image`).
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from samkit.coco_rle import rle_problem
from samkit.errors import InputError
from samkit.sqlite_tx import immediate_transaction

MASK_STATES = ("accepted", "proposed", "rejected")
STAGES = (1, 2, 3)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,            -- relative to the images folder, '/'-separated
    height INTEGER NOT NULL, width INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'ok',    -- ok | failed (did not decode)
    error TEXT
);
CREATE TABLE IF NOT EXISTS image_stages (   -- an image finished in a stage
    image_id INTEGER NOT NULL REFERENCES images(id), stage INTEGER NOT NULL,
    annotator TEXT, finished_at REAL NOT NULL, PRIMARY KEY (image_id, stage)
);
CREATE TABLE IF NOT EXISTS leases (
    image_id INTEGER NOT NULL REFERENCES images(id), stage INTEGER NOT NULL,
    annotator TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (image_id, stage)
);
CREATE TABLE IF NOT EXISTS masks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images(id),
    stage INTEGER NOT NULL, round INTEGER NOT NULL, source TEXT NOT NULL, state TEXT NOT NULL,
    rle_counts TEXT NOT NULL, rle_h INTEGER NOT NULL, rle_w INTEGER NOT NULL,
    area INTEGER NOT NULL, bbox_xywh TEXT NOT NULL,
    clicks INTEGER NOT NULL, seconds REAL NOT NULL,
    predicted_iou REAL, stability REAL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL, updated_at REAL NOT NULL,
    client_id TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS masks_by_image ON masks(image_id);
CREATE TABLE IF NOT EXISTS reviews (
    mask_id INTEGER PRIMARY KEY REFERENCES masks(id),
    queued_at REAL NOT NULL, verdict TEXT, reviewer TEXT, reviewed_at REAL
);
CREATE TABLE IF NOT EXISTS models (
    round INTEGER PRIMARY KEY, path TEXT NOT NULL, metrics TEXT NOT NULL,
    adopted INTEGER NOT NULL, created_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class ImageRow:
    id: int
    path: str
    height: int
    width: int
    status: str
    error: str | None
    done_stages: tuple[int, ...]


@dataclass(frozen=True)
class MaskRow:
    id: int
    image_id: int
    stage: int
    round: int
    source: str
    state: str
    rle: dict
    area: int
    bbox_xywh: list[float]
    clicks: int
    seconds: float
    predicted_iou: float | None
    stability: float | None
    version: int
    created_at: float
    updated_at: float
    client_id: str | None

    def mask(self) -> np.ndarray:
        """H x W bool mask."""
        return mask_utils.decode({"size": self.rle["size"], "counts": self.rle["counts"].encode("ascii")}).astype(bool)


@dataclass(frozen=True)
class ModelRow:
    round: int
    path: str
    metrics: dict
    adopted: bool
    created_at: float


class VersionConflict(Exception):
    """A state change that named a mask version other than the stored one; .current is the stored row."""

    def __init__(self, current: MaskRow) -> None:
        super().__init__(f"mask {current.id} is at version {current.version} (state {current.state!r})")
        self.current = current


_MASK_COLS = ("id, image_id, stage, round, source, state, rle_counts, rle_h, rle_w, area, bbox_xywh, clicks, seconds, "
              "predicted_iou, stability, version, created_at, updated_at, client_id")


def _mask_row(r) -> MaskRow:
    return MaskRow(id=r[0], image_id=r[1], stage=r[2], round=r[3], source=r[4], state=r[5],
                   rle={"size": [r[7], r[8]], "counts": r[6]}, area=r[9], bbox_xywh=json.loads(r[10]),
                   clicks=r[11], seconds=r[12], predicted_iou=r[13], stability=r[14], version=r[15],
                   created_at=r[16], updated_at=r[17], client_id=r[18])


def _normalise_rle(rle: dict) -> tuple[dict, int, list[float]]:
    """COCO RLE (str/bytes/list counts) -> (RLE with str counts, area, bbox_xywh); InputError if broken."""
    problem = rle_problem(rle)
    if problem:
        raise InputError(f"mask RLE: {problem}")
    h, w = int(rle["size"][0]), int(rle["size"][1])
    counts = rle["counts"]
    if isinstance(counts, list):
        obj = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    else:
        obj = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    area = int(mask_utils.area(obj))
    bbox = [float(v) for v in mask_utils.toBbox(obj)]
    return {"size": [h, w], "counts": obj["counts"].decode("ascii")}, area, bbox


class EngineStore:
    """Thread-safe access to one engine.sqlite (see the module docstring)."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self._local = threading.local()
        conn = self._conn()
        conn.executescript(SCHEMA)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('stage', '1')")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('round', '0')")

    # ------------------------------------------------------------------ plumbing
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            conn.execute("PRAGMA synchronous=FULL")  # a committed mask survives a power cut
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def _tx(self):
        return immediate_transaction(self._conn())

    def _read(self, sql: str, args: tuple = ()) -> list:
        return self._conn().execute(sql, args).fetchall()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ project state
    def state(self) -> dict:
        meta = dict(self._read("SELECT key, value FROM meta WHERE key IN ('stage', 'round')"))
        return {"stage": int(meta["stage"]), "round": int(meta["round"])}

    def set_stage(self, stage: int) -> None:
        if stage not in STAGES:
            raise InputError(f"stage must be one of {STAGES}, got {stage!r}")
        with self._tx() as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'stage'", (str(stage),))

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         (key, value))

    def meta(self, key: str) -> str | None:
        row = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0][0] if row else None

    # ------------------------------------------------------------------ images
    def add_images(self, items: list[tuple[str, int, int]]) -> int:
        """Add (path, height, width) images; known paths are skipped. Returns how many were added."""
        with self._tx() as conn:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO images (path, height, width) VALUES (?, ?, ?)",
                             [(p, int(h), int(w)) for p, h, w in items])
            return conn.total_changes - before

    def mark_failed(self, image_id: int, error: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE images SET status = 'failed', error = ? WHERE id = ?", (error, image_id))

    def _image_rows(self, where: str = "", args: tuple = ()) -> list[ImageRow]:
        done: dict[int, list[int]] = {}
        for image_id, stage in self._read("SELECT image_id, stage FROM image_stages ORDER BY stage"):
            done.setdefault(image_id, []).append(stage)
        rows = self._read(f"SELECT id, path, height, width, status, error FROM images {where} ORDER BY id", args)
        return [ImageRow(*r, done_stages=tuple(done.get(r[0], ()))) for r in rows]

    def images(self) -> list[ImageRow]:
        return self._image_rows()

    def image(self, image_id: int) -> ImageRow:
        rows = self._image_rows("WHERE id = ?", (image_id,))
        if not rows:
            raise KeyError(image_id)
        return rows[0]

    def claim_next_image(self, stage: int, annotator: str, lease_s: float = 600.0) -> ImageRow | None:
        """Lease the next ok image not done in `stage` and not leased to someone else (expired leases
        are free; an annotator's own lease is renewed). None when nothing is left."""
        now = time.time()
        with self._tx() as conn:
            row = conn.execute(
                "SELECT i.id FROM images i WHERE i.status = 'ok' "
                "AND NOT EXISTS (SELECT 1 FROM image_stages s WHERE s.image_id = i.id AND s.stage = ?) "
                "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.image_id = i.id AND l.stage = ? "
                "                AND l.annotator != ? AND l.expires_at > ?) "
                "ORDER BY (SELECT COUNT(*) FROM leases l WHERE l.image_id = i.id AND l.stage = ? "
                "          AND l.annotator = ?) DESC, i.id LIMIT 1",
                (stage, stage, annotator, now, stage, annotator)).fetchone()
            if row is None:
                return None
            conn.execute("INSERT INTO leases VALUES (?, ?, ?, ?) ON CONFLICT(image_id, stage) DO UPDATE SET "
                         "annotator = excluded.annotator, expires_at = excluded.expires_at",
                         (row[0], stage, annotator, now + lease_s))
        return self.image(row[0])

    def finish_image(self, image_id: int, stage: int, annotator: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO image_stages VALUES (?, ?, ?, ?)",
                         (image_id, stage, annotator, time.time()))
            conn.execute("DELETE FROM leases WHERE image_id = ? AND stage = ?", (image_id, stage))

    # ------------------------------------------------------------------ masks
    def add_mask(self, image_id: int, rle: dict, *, stage: int, round: int, source: str, state: str = "accepted",
                 clicks: int = 0, seconds: float = 0.0, predicted_iou: float | None = None,
                 stability: float | None = None, client_id: str | None = None) -> MaskRow:
        """Add one mask (one transaction). The same client_id twice returns the first row (a retry)."""
        return self.add_masks_batch([dict(image_id=image_id, rle=rle, stage=stage, round=round, source=source,
                                          state=state, clicks=clicks, seconds=seconds, predicted_iou=predicted_iou,
                                          stability=stability, client_id=client_id)])[0]

    def add_masks_batch(self, items: list[dict]) -> list[MaskRow]:
        """add_mask for many masks (dicts of add_mask's arguments) in ONE transaction: all or none."""
        prepared = []
        for it in items:
            state, stage = it.get("state", "accepted"), it["stage"]
            if state not in MASK_STATES:
                raise InputError(f"mask state must be one of {MASK_STATES}, got {state!r}")
            if stage not in STAGES:
                raise InputError(f"stage must be one of {STAGES}, got {stage!r}")
            prepared.append((it, state, *_normalise_rle(it["rle"])))
        now = time.time()
        ids = []
        with self._tx() as conn:
            for it, state, rle_s, area, bbox in prepared:
                client_id = it.get("client_id")
                if client_id is not None:
                    hit = conn.execute("SELECT id FROM masks WHERE client_id = ?", (client_id,)).fetchone()
                    if hit is not None:
                        ids.append(hit[0])
                        continue
                img = conn.execute("SELECT height, width FROM images WHERE id = ?", (it["image_id"],)).fetchone()
                if img is None:
                    raise InputError(f"no image with id {it['image_id']} in this project")
                if tuple(img) != tuple(rle_s["size"]):
                    raise InputError(f"mask size {rle_s['size']} differs from image {it['image_id']}'s {list(img)}")
                piou, stab = it.get("predicted_iou"), it.get("stability")
                cur = conn.execute(
                    "INSERT INTO masks (image_id, stage, round, source, state, rle_counts, rle_h, rle_w, area, "
                    "bbox_xywh, clicks, seconds, predicted_iou, stability, version, created_at, updated_at, client_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
                    (it["image_id"], it["stage"], int(it["round"]), it["source"], state, rle_s["counts"],
                     rle_s["size"][0], rle_s["size"][1], area, json.dumps(bbox), int(it.get("clicks", 0)),
                     float(it.get("seconds", 0.0)), None if piou is None else float(piou),
                     None if stab is None else float(stab), now, now, client_id))
                ids.append(cur.lastrowid)
            rows = {r[0]: _mask_row(r) for r in conn.execute(
                f"SELECT {_MASK_COLS} FROM masks WHERE id IN ({','.join('?' * len(ids))})", ids)} if ids else {}
        return [rows[i] for i in ids]

    def mask(self, mask_id: int) -> MaskRow:
        rows = self._read(f"SELECT {_MASK_COLS} FROM masks WHERE id = ?", (mask_id,))
        if not rows:
            raise KeyError(mask_id)
        return _mask_row(rows[0])

    def set_mask_state(self, mask_id: int, state: str, *, expected_version: int) -> MaskRow:
        """Change a mask's state if it is still at expected_version (else VersionConflict); version + 1."""
        if state not in MASK_STATES:
            raise InputError(f"mask state must be one of {MASK_STATES}, got {state!r}")
        with self._tx() as conn:
            row = conn.execute(f"SELECT {_MASK_COLS} FROM masks WHERE id = ?", (mask_id,)).fetchone()
            if row is None:
                raise KeyError(mask_id)
            current = _mask_row(row)
            if current.version != expected_version:
                raise VersionConflict(current)
            conn.execute("UPDATE masks SET state = ?, version = version + 1, updated_at = ? WHERE id = ?",
                         (state, time.time(), mask_id))
            row = conn.execute(f"SELECT {_MASK_COLS} FROM masks WHERE id = ?", (mask_id,)).fetchone()
        return _mask_row(row)

    def masks(self, image_id: int | None = None, *, stage: int | None = None, state: str | None = None,
              round: int | None = None) -> list[MaskRow]:
        where, args = [], []
        for col, val in (("image_id", image_id), ("stage", stage), ("state", state), ("round", round)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = f"SELECT {_MASK_COLS} FROM masks" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [_mask_row(r) for r in self._read(sql, tuple(args))]

    # ------------------------------------------------------------------ review of stage 3
    def sample_for_review(self, n: int, seed: int = 0) -> list[MaskRow]:
        """Up to n random stage-3 masks not yet queued for review; they are recorded as queued."""
        with self._tx() as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM masks WHERE stage = 3 AND id NOT IN (SELECT mask_id FROM reviews) ORDER BY id")]
            chosen = sorted(random.Random(seed).sample(ids, min(n, len(ids))))
            now = time.time()
            conn.executemany("INSERT INTO reviews (mask_id, queued_at) VALUES (?, ?)", [(i, now) for i in chosen])
        return [self.mask(i) for i in chosen]

    def review_queue(self) -> list[MaskRow]:
        """Masks queued for review and not reviewed yet."""
        ids = [r[0] for r in self._read("SELECT mask_id FROM reviews WHERE verdict IS NULL ORDER BY mask_id")]
        return [self.mask(i) for i in ids]

    def record_review(self, mask_id: int, verdict: str, reviewer: str) -> None:
        if verdict not in ("accept", "reject"):
            raise InputError(f"review verdict must be 'accept' or 'reject', got {verdict!r}")
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM masks WHERE id = ?", (mask_id,)).fetchone() is None:
                raise KeyError(mask_id)
            conn.execute("INSERT INTO reviews (mask_id, queued_at, verdict, reviewer, reviewed_at) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT(mask_id) DO UPDATE SET verdict = excluded.verdict, "
                         "reviewer = excluded.reviewer, reviewed_at = excluded.reviewed_at",
                         (mask_id, time.time(), verdict, reviewer, time.time()))

    def review_rejected_ids(self) -> set[int]:
        """Masks a reviewer rejected (left out of training exports)."""
        return {r[0] for r in self._read("SELECT mask_id FROM reviews WHERE verdict = 'reject'")}

    def review_stats(self) -> dict:
        reviewed, rejected = self._read(
            "SELECT COUNT(verdict), COALESCE(SUM(verdict = 'reject'), 0) FROM reviews")[0]
        return {"reviewed": int(reviewed), "rejected": int(rejected),
                "rejection_rate": (rejected / reviewed) if reviewed else None}

    # ------------------------------------------------------------------ models
    def add_model(self, round: int, path: str, metrics: dict, adopted: bool) -> ModelRow:
        now = time.time()
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?)",
                         (round, str(path), json.dumps(metrics), int(bool(adopted)), now))
            current = int(conn.execute("SELECT value FROM meta WHERE key = 'round'").fetchone()[0])
            conn.execute("UPDATE meta SET value = ? WHERE key = 'round'", (str(max(current, round)),))
        return ModelRow(round, str(path), metrics, bool(adopted), now)

    def models(self) -> list[ModelRow]:
        return [ModelRow(r[0], r[1], json.loads(r[2]), bool(r[3]), r[4])
                for r in self._read("SELECT round, path, metrics, adopted, created_at FROM models ORDER BY round")]

    def current_model(self) -> ModelRow | None:
        adopted = [m for m in self.models() if m.adopted]
        return adopted[-1] if adopted else None

    # ------------------------------------------------------------------ statistics
    def stats(self) -> list[dict]:
        """One dict per (stage, round) with masks (accepted, + proposed/rejected counts), images, rates."""
        models = {m.round: m for m in self.models()}
        rows = self._read(
            "SELECT stage, round, COUNT(DISTINCT image_id), SUM(state = 'accepted'), SUM(state = 'proposed'), "
            "SUM(state = 'rejected'), SUM(CASE WHEN state = 'accepted' THEN seconds END), "
            "SUM(CASE WHEN state = 'accepted' THEN clicks END) FROM masks GROUP BY stage, round ORDER BY stage, round")
        out = []
        for stage, rnd, n_img, acc, prop, rej, secs, clicks in rows:
            done = self._read("SELECT COUNT(*) FROM image_stages WHERE stage = ?", (stage,))[0][0]
            images = int(n_img)
            model = models.get(rnd)
            out.append({
                "stage": stage, "round": rnd, "images": images, "images_done_in_stage": int(done),
                "masks": int(acc or 0), "proposed": int(prop or 0), "rejected": int(rej or 0),
                "masks_per_image": (acc or 0) / images if images else 0.0,
                "seconds_per_mask": (secs or 0.0) / acc if acc else None,
                "clicks_per_mask": (clicks or 0) / acc if acc else None,
                "model_miou": (model.metrics.get("miou_1click") if model else None),
            })
        return out
