"""The folder's SQLite database (FOLDER/.samkit/annotations.sqlite): images and their annotations.

Images get a stable integer id the first time the server sees their file name, so annotations
survive restarts, re-scans and renames of nothing. Every write is one transaction: a crash or a
killed server leaves either the old list of annotations or the new one, never half of each.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from samkit.sqlite_tx import immediate_transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_name TEXT NOT NULL UNIQUE,      -- relative to the folder, '/'-separated
    width INTEGER, height INTEGER,       -- after EXIF orientation, as samkit sees the image
    file_size INTEGER, mtime_ns INTEGER, -- what width/height/pixel_key were computed from
    pixel_key TEXT,                      -- sha256 of the decoded pixels (the embedding cache key)
    annotations_version INTEGER NOT NULL DEFAULT 0  -- +1 per saved annotation list (ETag of PUT/GET)
);
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images(id),
    category TEXT NOT NULL,
    rle_counts TEXT NOT NULL, rle_h INTEGER NOT NULL, rle_w INTEGER NOT NULL,
    bbox_xywh TEXT NOT NULL, area INTEGER NOT NULL,
    predicted_iou REAL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_by_image ON annotations(image_id);
"""


@dataclass
class ImageRow:
    id: int
    file_name: str
    width: int | None
    height: int | None
    file_size: int | None
    mtime_ns: int | None
    pixel_key: str | None
    annotations_version: int = 0


class VersionConflict(Exception):
    """A save that named a version of the image's annotations other than the stored one."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the stored annotations are at version {current}")
        self.current = current


@dataclass
class AnnotationRow:
    """One object: a COCO RLE (counts string, size H x W) and its derived box/area in pixels."""

    id: int | None
    image_id: int
    category: str
    rle_counts: str
    rle_hw: tuple[int, int]
    bbox_xywh: list[float]
    area: int
    predicted_iou: float | None
    created: str


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one writer at a time inside this process
        with self._connect() as conn:
            conn.executescript(SCHEMA)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(images)")}
            if "annotations_version" not in columns:  # a folder annotated before versions existed
                conn.execute("ALTER TABLE images ADD COLUMN annotations_version INTEGER NOT NULL DEFAULT 0")

    @contextmanager
    def _connect(self):
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        conn.execute("PRAGMA synchronous=FULL")  # a saved annotation survives a power cut
        conn.execute("PRAGMA foreign_keys=ON")
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self):
        with self._lock, self._connect() as conn, immediate_transaction(conn):
            yield conn

    # ------------------------------------------------------------------ images
    def image_by_name(self, file_name: str) -> ImageRow | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM images WHERE file_name = ?", (file_name,)).fetchone()
        return ImageRow(*row) if row else None

    def image(self, image_id: int) -> ImageRow | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
        return ImageRow(*row) if row else None

    def images(self) -> list[ImageRow]:
        with self._connect() as conn:
            return [ImageRow(*r) for r in conn.execute("SELECT * FROM images ORDER BY file_name")]

    def upsert_image(self, file_name: str, width: int, height: int, file_size: int, mtime_ns: int,
                     pixel_key: str | None = None) -> ImageRow:
        """Insert a new file name, or refresh the facts of a known one (its id never changes)."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO images (file_name, width, height, file_size, mtime_ns, pixel_key) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(file_name) DO UPDATE SET width=excluded.width, "
                "height=excluded.height, file_size=excluded.file_size, mtime_ns=excluded.mtime_ns, "
                "pixel_key=excluded.pixel_key",
                (file_name, width, height, file_size, mtime_ns, pixel_key),
            )
        return self.image_by_name(file_name)

    def set_pixel_key(self, image_id: int, pixel_key: str) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE images SET pixel_key = ? WHERE id = ?", (pixel_key, image_id))

    def annotation_counts(self) -> dict[int, int]:
        with self._connect() as conn:
            return dict(conn.execute("SELECT image_id, COUNT(*) FROM annotations GROUP BY image_id"))

    # ------------------------------------------------------------------ annotations
    def annotations(self, image_id: int | None = None) -> list[AnnotationRow]:
        sql = "SELECT id, image_id, category, rle_counts, rle_h, rle_w, bbox_xywh, area, predicted_iou, created " \
              "FROM annotations"
        args: tuple = ()
        if image_id is not None:
            sql, args = sql + " WHERE image_id = ?", (image_id,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [AnnotationRow(r[0], r[1], r[2], r[3], (r[4], r[5]), json.loads(r[6]), r[7], r[8], r[9]) for r in rows]

    def annotations_version(self, image_id: int) -> int:
        with self._connect() as conn:
            row = conn.execute("SELECT annotations_version FROM images WHERE id = ?", (image_id,)).fetchone()
        return int(row[0]) if row else 0

    def replace_annotations(self, image_id: int, rows: list[AnnotationRow],
                            expected_version: int | None = None) -> tuple[list[AnnotationRow], int]:
        """Make the image's annotations exactly `rows`, in one transaction; returns them and their new version.

        Rows whose id already belongs to this image are updated (keeping their id), other rows are
        inserted with a new id, and the image's annotations not in `rows` are deleted.
        expected_version: the version the writer last read; if another save came in between, nothing
        is written and VersionConflict is raised (checked inside the write lock, so two servers on
        one folder cannot both pass the check).
        """
        with self._transaction() as conn:
            current = int(conn.execute("SELECT annotations_version FROM images WHERE id = ?",
                                       (image_id,)).fetchone()[0])
            if expected_version is not None and expected_version != current:
                raise VersionConflict(current)
            conn.execute("UPDATE images SET annotations_version = ? WHERE id = ?", (current + 1, image_id))
            existing = {r[0] for r in conn.execute("SELECT id FROM annotations WHERE image_id = ?", (image_id,))}
            kept: set[int] = set()
            for row in rows:
                values = (row.category, row.rle_counts, row.rle_hw[0], row.rle_hw[1], json.dumps(row.bbox_xywh),
                          row.area, row.predicted_iou, row.created)
                if row.id is not None and row.id in existing and row.id not in kept:
                    conn.execute(
                        "UPDATE annotations SET category=?, rle_counts=?, rle_h=?, rle_w=?, bbox_xywh=?, area=?, "
                        "predicted_iou=?, created=? WHERE id=?", values + (row.id,))
                else:
                    cur = conn.execute(
                        "INSERT INTO annotations (category, rle_counts, rle_h, rle_w, bbox_xywh, area, predicted_iou, "
                        "created, image_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values + (image_id,))
                    row.id = cur.lastrowid
                kept.add(row.id)
            for stale in existing - kept:
                conn.execute("DELETE FROM annotations WHERE id = ?", (stale,))
        return self.annotations(image_id), current + 1
