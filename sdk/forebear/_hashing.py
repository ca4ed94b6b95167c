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
        self,
        paths: Sequence[Path],
        progress: Callable[[int], None] | None = None,
        stats: Sequence[os.stat_result] | None = None,
    ) -> list[str]:
        """The files' sha256s (sha256 for each; `stats`, the files' os.stat when the caller
        has them), looked up together and the new ones kept in one transaction: a directory
        of thousands of files is one read and one write, not thousands."""
        real_of = _RealPaths()
        reals = [real_of(path) for path in paths]
        infos = list(stats) if stats is not None else [os.stat(real) for real in reals]
        with self._lock, self._connect() as db:
            kept = _rows(db, reals)
        found: list[str] = []
        new: list[tuple[str, int, int, int, str]] = []
        for path, real, info in zip(paths, reals, infos):
            digest = _still(kept.get(real), info)
            if digest is not None:
                if progress is not None:
                    progress(info.st_size)
            else:
                digest = sha256_of(path, progress)
                new.append((real, info.st_size, info.st_mtime_ns, info.st_ino, digest))
            found.append(digest)
        if new:
            with self._lock, self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", new)
        return found

    def known(self, paths: Sequence[Path]) -> list[str | None]:
        """Each file's sha256 if it is kept and the file unchanged since; None otherwise."""
        real_of = _RealPaths()
        reals = [real_of(path) for path in paths]
        with self._lock, self._connect() as db:
            kept = _rows(db, reals)
        found: list[str | None] = []
        for real in reals:
            try:
                info = os.stat(real)
            except OSError:
                found.append(None)
                continue
            found.append(_still(kept.get(real), info))
        return found

    def remember(self, items: Sequence[tuple[Path, str]]) -> None:
        """Keep the sha256 of files known without hashing them (verified downloads)."""
        rows = []
        real_of = _RealPaths()
        for path, digest in items:
            real = real_of(path)
            info = os.stat(real)
            rows.append((real, info.st_size, info.st_mtime_ns, info.st_ino, digest))
        with self._lock, self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", rows)


class _RealPaths:
    """Files' paths with their folders' links resolved, each folder once (resolving every
    file's path costs a system call per component, per file): the key of the digest cache."""

    def __init__(self) -> None:
        self._folders: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        folder = path.parent
        real = self._folders.get(folder)
        if real is None:
            real = self._folders[folder] = os.path.realpath(folder)
        return os.path.join(real, path.name)


_Row = tuple[int, int, int, str]  # size, mtime_ns, inode, sha256


def _rows(db: sqlite3.Connection, reals: Sequence[str]) -> dict[str, _Row]:
    """The kept rows of these paths, a few hundred to a query (SQLite's variable limit)."""
    kept: dict[str, _Row] = {}
    for start in range(0, len(reals), 500):
        chunk = reals[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for real, size, mtime_ns, inode, digest in db.execute(
            f"SELECT path, size, mtime_ns, inode, sha256 FROM digests WHERE path IN ({marks})",
            chunk,
        ):
            kept[real] = (size, mtime_ns, inode, digest)
    return kept


def _still(row: _Row | None, info: os.stat_result) -> str | None:
    """The kept digest when the file is as it was when hashed (size, mtime, inode)."""
    if row is None or row[:3] != (info.st_size, info.st_mtime_ns, info.st_ino):
        return None
    return row[3]
