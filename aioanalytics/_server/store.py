"""The collector's event store: SQLite in WAL mode, de-duplicated on ``messageId``.

Theory of operation: the store keeps every accepted message once, in arrival order, under
an integer id that only grows, so "newest first" is ``ORDER BY id DESC``. A message whose
``messageId`` is already stored is not stored again; the stored row counts the extra copies
in ``duplicates`` instead, because Segment de-duplicates on ``messageId`` the same way
(Segment HTTP API docs, "messageId") and a retried batch is expected to arrive twice.

All methods are synchronous and thread-safe (one connection behind a lock): the web app calls
them through a worker thread so the event loop never waits on the disk, and the demo reads
the numbers back directly. One ``add`` is one transaction with a few ``executemany`` calls,
whatever the size of the batch. The store knows nothing of HTTP, validation or the write key;
it never sees the key, so nothing read from it can show one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ._json import dumps, loads

__all__ = ["AddResult", "Counts", "NewEvent", "Store", "StoredEvent"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    event TEXT,
    name TEXT,
    user_id TEXT,
    anonymous_id TEXT,
    timestamp TEXT,
    received_at TEXT NOT NULL,
    duplicates INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_type ON events (type);
CREATE INDEX IF NOT EXISTS events_event ON events (event);
CREATE INDEX IF NOT EXISTS events_user_id ON events (user_id);
CREATE INDEX IF NOT EXISTS events_anonymous_id ON events (anonymous_id);
"""

_COLUMNS = (
    "id, message_id, type, event, name, user_id, anonymous_id, timestamp, received_at,"
    " duplicates, message"
)

# SQLite's default bound-parameter limit is 32766 since 3.32 and 999 before; a batch holds
# at most 2500 messages (Segment HTTP API docs), so look ids up in slices well under both.
_IN_CHUNK = 500

MAX_PAGE_SIZE = 1000
"""The most events one query returns."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """A validated message about to be stored.

    Args:
        message_id: The ``messageId`` the store de-duplicates on.
        type: The message type (``"track"``, ``"identify"``...).
        event: A track's event name, else ``None``.
        name: A page's or screen's name, else ``None``.
        user_id: The ``userId``, if any.
        anonymous_id: The ``anonymousId``, if any.
        timestamp: The message's ``timestamp`` as sent (ISO 8601), if any.
        message: The message as a wire-format (camelCase) dict.
    """

    message_id: str
    type: str
    event: str | None = None
    name: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    timestamp: str | None = None
    message: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvent:
    """One stored message with what the collector knows about it."""

    id: int
    message_id: str
    type: str
    event: str | None
    name: str | None
    user_id: str | None
    anonymous_id: str | None
    timestamp: str | None
    received_at: str
    duplicates: int
    message: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Return the camelCase dict the query API and the debugger page use."""
        return {
            "id": self.id,
            "messageId": self.message_id,
            "type": self.type,
            "event": self.event,
            "name": self.name,
            "userId": self.user_id,
            "anonymousId": self.anonymous_id,
            "timestamp": self.timestamp,
            "receivedAt": self.received_at,
            "duplicates": self.duplicates,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class AddResult:
    """What one :meth:`Store.add` did: the rows it created, and how many copies it skipped."""

    stored: list[StoredEvent]
    duplicates: int


@dataclass(frozen=True, slots=True)
class Counts:
    """Totals over everything stored."""

    total: int
    duplicates: int
    by_type: dict[str, int] = field(default_factory=dict)
    by_event: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the dict ``GET /api/counts`` answers with."""
        return {
            "total": self.total,
            "duplicates": self.duplicates,
            "types": self.by_type,
            "events": self.by_event,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """A SQLite store of accepted messages, de-duplicated on ``messageId``.

    Usage::

        store = Store("aioanalytics-collector.db")   # or ":memory:"
        result = store.add([NewEvent(message_id="m1", type="track", event="Signed Up",
                                     message={...})])
        events, total = store.events(type="track", limit=20)
        store.counts().by_type        # {"track": 1}
        store.close()

    Args:
        path: The database file, created if missing; ``":memory:"`` keeps it in memory.
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with self._lock:
            # WAL lets readers of the file (another process, a shell) read while we write.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def add(self, events: Sequence[NewEvent]) -> AddResult:
        """Store the events whose ``messageId`` is new, and count the others as duplicates.

        A ``messageId`` repeated within ``events`` counts as a duplicate of its first copy.
        """
        received_at = _now()
        fresh: dict[str, NewEvent] = {}
        repeats: dict[str, int] = {}
        for event in events:
            if event.message_id in fresh:
                repeats[event.message_id] = repeats.get(event.message_id, 0) + 1
            else:
                fresh[event.message_id] = event
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                known = self._known_ids(list(fresh))
                for message_id in known:
                    repeats[message_id] = repeats.get(message_id, 0) + 1
                    del fresh[message_id]
                first = self._next_id()
                self._db.executemany(
                    "INSERT INTO events (message_id, type, event, name, user_id, anonymous_id,"
                    " timestamp, received_at, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            e.message_id,
                            e.type,
                            e.event,
                            e.name,
                            e.user_id,
                            e.anonymous_id,
                            e.timestamp,
                            received_at,
                            dumps(e.message),
                        )
                        for e in fresh.values()
                    ],
                )
                self._db.executemany(
                    "UPDATE events SET duplicates = duplicates + ? WHERE message_id = ?",
                    [(count, message_id) for message_id, count in repeats.items()],
                )
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM events WHERE id >= ? ORDER BY id", (first,)
                ).fetchall()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return AddResult([_row(r) for r in rows], sum(repeats.values()))

    def _known_ids(self, message_ids: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(message_ids), _IN_CHUNK):
            chunk = message_ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor = self._db.execute(
                f"SELECT message_id FROM events WHERE message_id IN ({marks})", chunk
            )
            known.update(row[0] for row in cursor)
        return known

    def _next_id(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return 1 if row is None else int(row[0]) + 1

    def events(
        self,
        *,
        type: str | None = None,
        event: str | None = None,
        user: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[StoredEvent], int]:
        """Return one page of stored events, newest first, and how many match in all.

        Args:
            type: Only this message type.
            event: Only this event name (a track's ``event``, or a page's or screen's
                ``name``).
            user: Only messages whose ``userId`` or ``anonymousId`` is this.
            limit: At most this many events (capped at ``MAX_PAGE_SIZE``).
            offset: Skip this many of the newest matching events first.
        """
        where, params = _filters(type=type, event=event, user=user)
        limit = max(0, min(limit, MAX_PAGE_SIZE))
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM events{where}", params).fetchone()[0]
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM events{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                [*params, limit, max(0, offset)],
            ).fetchall()
        return [_row(r) for r in rows], int(total)

    def counts(self) -> Counts:
        """Return the totals: per type, per track event name, all, and duplicates."""
        with self._lock:
            total, duplicates = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(duplicates), 0) FROM events"
            ).fetchone()
            by_type = self._db.execute(
                "SELECT type, COUNT(*) FROM events GROUP BY type ORDER BY type"
            ).fetchall()
            by_event = self._db.execute(
                "SELECT event, COUNT(*) FROM events WHERE event IS NOT NULL"
                " GROUP BY event ORDER BY COUNT(*) DESC, event"
            ).fetchall()
        return Counts(
            total=int(total),
            duplicates=int(duplicates),
            by_type={t: int(n) for t, n in by_type},
            by_event={e: int(n) for e, n in by_event},
        )

    def export(
        self,
        *,
        type: str | None = None,
        event: str | None = None,
        user: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[str]:
        """Yield the stored messages as JSON Lines (one wire-format message per line).

        Oldest first, so that ``aioanalytics import`` replays them in the order they came.
        The lock is held per page, not for the whole export.
        """
        where, params = _filters(type=type, event=event, user=user)
        last = 0
        joiner = " AND " if where else " WHERE "
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT id, message FROM events{where}{joiner}id > ? ORDER BY id LIMIT ?",
                    [*params, last, page_size],
                ).fetchall()
            if not rows:
                return
            for row_id, message in rows:
                last = row_id
                yield f"{message}\n"


def _filters(*, type: str | None, event: str | None, user: str | None) -> tuple[str, list[str]]:
    clauses: list[str] = []
    params: list[str] = []
    if type:
        clauses.append("type = ?")
        params.append(type)
    if event:
        clauses.append("(event = ? OR name = ?)")
        params.extend((event, event))
    if user:
        clauses.append("(user_id = ? OR anonymous_id = ?)")
        params.extend((user, user))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(
        id=row[0],
        message_id=row[1],
        type=row[2],
        event=row[3],
        name=row[4],
        user_id=row[5],
        anonymous_id=row[6],
        timestamp=row[7],
        received_at=row[8],
        duplicates=row[9],
        message=loads(row[10]),
    )
