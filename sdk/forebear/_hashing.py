"""sha256 of local files, computed once: a file's digest is kept by path, size, mtime and
inode, so logging an unchanged 10 GB file again costs a stat."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

CHUNK = 4 * 1024 * 1024


def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """Stream a file through sha256 (memory stays flat whatever its size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))


class HashCache:
    """Digests kept in a small SQLite file under the cache directory (safe across threads and
    processes: SQLite locks it)."""

    def __init__(self, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._path = cache_dir / "hashes.sqlite"
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, inode INTEGER, sha256 TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self._path), timeout=30)

    def sha256(self, path: Path, progress: Callable[[int], None] | None = None) -> str:
        """The file's sha256: kept when its size, mtime and inode are as when it was hashed."""
        return self.digests([path], progress)[0]

    def digests(
        self, paths: Sequence[Path], progress: Callable[[int], None] | None = None
    ) -> list[str]:
        """The files' sha256s (sha256 for each), looked up together and the new ones kept in
        one transaction: a directory of thousands of files is one write, not thousands."""
        found: list[str] = []
        new: list[tuple[str, int, int, int, str]] = []
        with self._lock, self._connect() as db:
            for path in paths:
                real = str(path.resolve())
                info = os.stat(real)
                row = db.execute(
                    "SELECT sha256 FROM digests WHERE path = ? AND size = ? AND mtime_ns = ? "
                    "AND inode = ?",
                    (real, info.st_size, info.st_mtime_ns, info.st_ino),
                ).fetchone()
                if row is not None:
                    if progress is not None:
                        progress(info.st_size)
                    found.append(str(row[0]))
                    continue
                digest = sha256_of(path, progress)
                new.append((real, info.st_size, info.st_mtime_ns, info.st_ino, digest))
                found.append(digest)
            db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", new)
        return found

    def known(self, paths: Sequence[Path]) -> list[str | None]:
        """Each file's sha256 if it is kept and the file unchanged since; None otherwise."""
        found: list[str | None] = []
        with self._lock, self._connect() as db:
            for path in paths:
                try:
                    real = str(path.resolve())
                    info = os.stat(real)
                except OSError:
                    found.append(None)
                    continue
                row = db.execute(
                    "SELECT sha256 FROM digests WHERE path = ? AND size = ? AND mtime_ns = ? "
                    "AND inode = ?",
                    (real, info.st_size, info.st_mtime_ns, info.st_ino),
                ).fetchone()
                found.append(None if row is None else str(row[0]))
        return found

    def remember(self, items: Sequence[tuple[Path, str]]) -> None:
        """Keep the sha256 of files known without hashing them (verified downloads)."""
        rows = []
        for path, digest in items:
            real = str(path.resolve())
            info = os.stat(real)
            rows.append((real, info.st_size, info.st_mtime_ns, info.st_ino, digest))
        with self._lock, self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", rows)
