"""Spool storage, measured: append-only segment files (``aioanalytics._spool``) against SQLite
in WAL mode, for the work the client asks of its spool.

For each store and group size (records per commit, which is what group commit buys):

- ``commit``: append ``group`` records and make them durable (``fdatasync``; SQLite
  ``synchronous=FULL``); latency per commit and records per second;
- ``ack``: acknowledge ``group`` records (no sync of their own, as the client does);
- ``recover``: open a store holding 100,000 live records and read them back in order.

Run: ``python -m benchmarks.spool_formats [--dir PATH] [--records N] [--runs N]``. The directory must be
on the disk you mean to measure (the default is a temporary directory under the working
directory, not ``/tmp``, which may be a RAM disk).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aioanalytics._spool import Spool

_KEY = b"Segment/batch"
_RECORD = json.dumps(
    {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-12345",
        "messageId": "0b5c7d1e-8d2a-4a5e-9d43-7d6a1f2b3c4d",
        "timestamp": "2024-03-15T11:59:30.123Z",
        "properties": {"revenue": 42.5, "currency": "EUR", "sku": "A-1", "items": 3},
        "context": {"library": {"name": "aioanalytics", "version": "0.1.0"}},
    }
).encode()


class SegmentStore:
    """The real spool, driven the way the client drives it (minus the event loop)."""

    name = "segments"

    def __init__(self, path: Path) -> None:
        self.spool = Spool(path, max_bytes=1 << 40)
        self.spool.recover()

    def append(self, n: int) -> list[int]:
        seqs = [self.spool.stage(_KEY, _RECORD) for _ in range(n)]
        self.spool.write(self.spool.take(sync=True))
        return seqs

    def ack(self, seqs: list[int]) -> None:
        self.spool.ack(seqs)
        self.spool.write(self.spool.take(sync=False))

    def close(self) -> None:
        self.spool.close()

    @staticmethod
    def recover(path: Path) -> int:
        spool = Spool(path, max_bytes=1 << 40)
        n = len(spool.recover().records)
        spool.close()
        return n


class SQLiteStore:
    """SQLite in WAL mode: one row per record, deleted on ack."""

    name = "sqlite-wal"

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path / "spool.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY, key BLOB, data BLOB)"
        )

    def append(self, n: int) -> list[int]:
        db = self.db
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN")
        seqs = []
        for _ in range(n):
            cursor = db.execute("INSERT INTO spool (key, data) VALUES (?, ?)", (_KEY, _RECORD))
            seqs.append(cursor.lastrowid or 0)
        db.execute("COMMIT")
        return seqs

    def ack(self, seqs: list[int]) -> None:
        db = self.db
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN")
        db.executemany("DELETE FROM spool WHERE seq = ?", [(s,) for s in seqs])
        db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    @staticmethod
    def recover(path: Path) -> int:
        db = sqlite3.connect(path / "spool.db")
        rows = db.execute("SELECT seq, key, data FROM spool ORDER BY seq").fetchall()
        db.close()
        return len(rows)


Store = type[SegmentStore] | type[SQLiteStore]


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(store_type: Store, base: Path, group: int, records: int) -> dict[str, float]:
    """Commit ``records`` in groups of ``group``, then ack them; return the figures."""
    path = base / f"{store_type.name}-{group}"
    store = store_type(path)
    commits: list[float] = []
    acks: list[float] = []
    pending: list[list[int]] = []
    for _ in range(max(1, records // group)):
        start = time.perf_counter()
        pending.append(store.append(group))
        commits.append(time.perf_counter() - start)
    for seqs in pending:
        acks.append(_timed(lambda seqs=seqs: store.ack(seqs)))  # type: ignore[misc]
    store.close()
    shutil.rmtree(path)
    commits.sort()
    total = sum(commits)
    return {
        "commit_p50_ms": statistics.median(commits) * 1e3,
        "commit_p99_ms": commits[int(len(commits) * 0.99)] * 1e3,
        "records_per_s": len(commits) * group / total,
        "ack_us_per_record": sum(acks) / (len(acks) * group) * 1e6,
    }


def measure_recovery(store_type: Store, base: Path, live: int) -> float:
    """Seconds to open a store holding ``live`` records and read them back."""
    path = base / f"{store_type.name}-recover"
    store = store_type(path)
    for _ in range(live // 1000):
        store.append(1000)
    store.close()
    seconds = _timed(lambda: store_type.recover(path))
    shutil.rmtree(path)
    return seconds


def main(argv: list[str] | None = None) -> None:
    """Print the comparison as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--records", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=5, help="median of this many runs")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="spool-bench-", dir=args.dir or Path.cwd()))
    try:
        print(
            f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"SQLite {sqlite3.sqlite_version}; record {len(_RECORD)} bytes; dir {base}; "
            f"median of {args.runs} runs\n"
        )
        print("| store | records/commit | commit p50 ms | commit p99 ms | records/s | ack us/rec |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for group in (1, 16, 256):
            for store_type in (SegmentStore, SQLiteStore):
                records = args.records if group > 1 else min(args.records, 1000)
                runs = [measure(store_type, base, group, records) for _ in range(args.runs)]
                r = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
                print(
                    f"| {store_type.name} | {group} | {r['commit_p50_ms']:.2f} "
                    f"| {r['commit_p99_ms']:.2f} | {r['records_per_s']:,.0f} "
                    f"| {r['ack_us_per_record']:.2f} |"
                )
        print()
        for store_type in (SegmentStore, SQLiteStore):
            seconds = statistics.median(
                measure_recovery(store_type, base, 100_000) for _ in range(args.runs)
            )
            print(f"recover 100,000 live records, {store_type.name}: {seconds * 1e3:.0f} ms")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
