"""sha256 of local files, computed once: a file's digest is kept by path, size, mtime and
inode, so logging an unchanged 10 GB file again costs a stat."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import weakref
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Callable, Union

CHUNK = 4 * 1024 * 1024
FilePath = Union[str, "os.PathLike[str]"]


def sha256_of(path: FilePath, progress: Callable[[int], None] | None = None) -> str:
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


# Whole lists of files remembered with their digests, newest first, up to this many files in
# all (64 bytes each): logging the same directory again looks up one row, not one per file.
LISTED_FILES = 500_000


class HashCache:
    """Digests kept in a small SQLite file under the cache directory (safe across threads and
    processes: SQLite locks it): each file's, and each list of files looked up together."""

    def __init__(self, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._path = cache_dir / "hashes.sqlite"
        self._lock = threading.Lock()
        self.hashed = 0  # files the last `digests` call read (0: all known already)
        # One connection for the cache's life, used by one thread at a time (the lock), and
        # closed with it.
        self._db = sqlite3.connect(str(self._path), timeout=30, check_same_thread=False)
        weakref.finalize(self, self._db.close)
        with self._db as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, inode INTEGER, sha256 TEXT)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS listings (key TEXT PRIMARY KEY, files INTEGER, "
                "digests TEXT)"
            )

    def sha256(self, path: FilePath, progress: Callable[[int], None] | None = None) -> str:
        """The file's sha256: kept when its size, mtime and inode are as when it was hashed."""
        return self.digests([path], progress)[0]

    def digests(
        self,
        paths: Sequence[FilePath],
        progress: Callable[[int], None] | None = None,
        stats: Sequence[os.stat_result] | None = None,
    ) -> list[str]:
        """The files' sha256s (sha256 for each; `stats`, the files' os.stat when the caller
        has them). The same files, each unchanged (size, mtime, inode), as a list looked up
        before are one row; otherwise they are looked up together and the new ones kept in
        one transaction: a directory of thousands of files is one read and one write."""
        infos = list(stats) if stats is not None else [os.stat(path) for path in paths]
        listing = _listing_key(paths, infos)
        with self._lock, self._db as db:
            row = db.execute("SELECT digests FROM listings WHERE key = ?", (listing,)).fetchone()
        if row is not None and len(row[0]) == 64 * len(infos):
            self.hashed = 0
            if progress is not None:
                progress(sum(info.st_size for info in infos))
            return [row[0][at : at + 64] for at in range(0, len(row[0]), 64)]
        real_of = _RealPaths()
        reals = [real_of(path) for path in paths]
        with self._lock, self._db as db:
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
        self.hashed = len(new)
        listed = len(infos) > 1
        if new or listed:
            with self._lock, self._db as db:
                db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", new)
                if listed:
                    db.execute(
                        "INSERT OR REPLACE INTO listings VALUES (?, ?, ?)",
                        (listing, len(infos), "".join(found)),
                    )
                    _forget_old_listings(db)
        return found

    def known(self, paths: Sequence[FilePath]) -> list[str | None]:
        """Each file's sha256 if it is kept and the file unchanged since; None otherwise."""
        real_of = _RealPaths()
        reals = [real_of(path) for path in paths]
        with self._lock, self._db as db:
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

    def remember(self, items: Sequence[tuple[FilePath, str]]) -> None:
        """Keep the sha256 of files known without hashing them (verified downloads)."""
        rows = []
        real_of = _RealPaths()
        for path, digest in items:
            real = real_of(path)
            info = os.stat(real)
            rows.append((real, info.st_size, info.st_mtime_ns, info.st_ino, digest))
        with self._lock, self._db as db:
            db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", rows)


class _RealPaths:
    """Files' paths with their folders' links resolved, each folder once (resolving every
    file's path costs a system call per component, per file): the key of the digest cache."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: FilePath) -> str:
        folder, name = os.path.split(os.fspath(path))
        real = self._folders.get(folder)
        if real is None:
            real = self._folders[folder] = os.path.realpath(folder)
        return os.path.join(real, name)


def _listing_key(paths: Sequence[FilePath], infos: Sequence[os.stat_result]) -> str:
    """What a list of files is looked up by: their paths (relative ones relative to here),
    sizes, mtimes and inodes."""
    key = hashlib.sha256(_here().encode("utf-8", "surrogateescape"))
    key.update("\0".join(os.fspath(path) for path in paths).encode("utf-8", "surrogateescape"))
    key.update(array("q", [info.st_size for info in infos]))
    key.update(array("q", [info.st_mtime_ns for info in infos]))
    key.update(array("Q", [info.st_ino for info in infos]))
    return key.hexdigest()


def _here() -> str:
    try:
        return os.getcwd()
    except OSError:  # removed: only absolute paths can be read
        return ""


def _forget_old_listings(db: sqlite3.Connection) -> None:
    """Drop the oldest lists once the newer ones hold LISTED_FILES files."""
    newer, old = 0, []
    for rowid, files in db.execute("SELECT rowid, files FROM listings ORDER BY rowid DESC"):
        newer += files
        if newer > LISTED_FILES:
            old.append((rowid,))
    db.executemany("DELETE FROM listings WHERE rowid = ?", old)


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
