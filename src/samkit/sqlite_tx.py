"""One write transaction on a SQLite connection opened with isolation_level=None (autocommit).

Both of samkit's stores (the annotator's folder database and the data engine's project) write
through this, so every write is all-or-nothing and takes the write lock up front.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception (KeyboardInterrupt included).

    IMMEDIATE takes the write lock at BEGIN rather than at the first write, so a read-then-write
    (a version check followed by an update) cannot lose an update to another writer in between.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
