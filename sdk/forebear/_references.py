"""A version's references fetched where `download` puts its files, as W&B does for the
schemes it can read: a `file://` file or directory of this machine is copied, an `http(s)://`
URL is fetched; each checked against the sha256 and size it was logged with, when it was. A URL
logged with its sha256 goes through the local cache as the version's files do: fetched once,
then placed from there, the bytes logged whatever the URL serves later. Other schemes
(s3://, gs://, az://, abfss://, hdfs://, git+...) need their own clients and credentials: they
stay where they point."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from forebear._artifact import local_path
from forebear._errors import IntegrityError, NotFound
from forebear._graphql import CONNECT_SECONDS, READ_SECONDS
from forebear._transfer import CHUNK, Cache, place

if TYPE_CHECKING:
    from forebear._artifact import ArtifactReference

FETCHED = ("file", "http", "https")  # the schemes fetched; others stay where they point
ALLOW = "allow_missing_references=True (`forebear artifact get --allow-missing-references`)"


class _Unreadable(Exception):
    """A reference that cannot be read from here (missing file, refused or failed URL)."""


def fetchable(ref: ArtifactReference) -> bool:
    """Whether `download` fetches this reference (a file:// of another host does not)."""
    scheme = ref.uri.split(":", 1)[0].lower()
    return scheme in FETCHED and (scheme != "file" or local_path(ref.uri) is not None)


def fetch_references(
    refs: Iterable[ArtifactReference],
    root: Path,
    name: str,
    allow_missing: bool,
    cache_dir: Path,
) -> None:
    """Put each fetchable reference of version `name` at its path under `root`. One that
    cannot be read raises NotFound naming it, or is skipped with `allow_missing`; one whose
    bytes are not those logged (sha256, size) raises IntegrityError, and nothing of it is
    left under `root`."""
    wanted = [ref for ref in refs if fetchable(ref)]
    if not wanted:
        return  # no client made (its TLS set-up costs milliseconds)
    # a URL logged with its sha256 goes through the cache (made only then)
    cache = Cache(cache_dir) if any(map(_cached, wanted)) else None
    kept: set[Path] = set()
    with httpx.Client(
        timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS), follow_redirects=True
    ) as http:  # no Forebear key on it: these URLs are anyone's
        for ref in wanted:
            target = _inside(root, ref.path)
            try:
                local = local_path(ref.uri)
                if local is not None and local.is_dir():
                    _copy_tree(local, target)
                elif local is not None:
                    _save(_read_file(local), target, ref, name)
                elif cache is not None and ref.sha256 is not None:
                    cached = cache.path(ref.sha256)
                    size = ref.size if ref.size is not None else _size(cached)
                    if not cache.present({ref.sha256: size}):  # else: not fetched again
                        cached.parent.mkdir(parents=True, exist_ok=True)
                        partial = cached.with_name(f"{ref.sha256}.ref.partial")
                        _save(_read_url(http, ref.uri), partial, ref, name)
                        cache.adopt([(partial, ref.sha256)])
                    place(cached, target)
                    kept.add(cached)
                else:
                    _save(_read_url(http, ref.uri), target, ref, name)
            except _Unreadable as exc:
                if allow_missing:
                    continue
                raise NotFound(
                    f"reference {ref.path} of {name} cannot be fetched from {ref.uri}: {exc}. "
                    f"Download without it with {ALLOW}"
                ) from None
    if cache is not None and kept:
        cache.evict(keep=kept)


def _cached(ref: ArtifactReference) -> bool:
    """Whether `ref` is fetched through the cache: a URL logged with its sha256."""
    return local_path(ref.uri) is None and ref.sha256 is not None


def _size(path: Path) -> int:
    """A cached content's size (its sha256 is checked too: any size will do), -1 if none."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _inside(root: Path, path: str) -> Path:
    """Where `path` goes under `root`; a path that would leave it is refused (the server
    never gives one)."""
    target = root / path
    if os.path.isabs(path) or ".." in Path(path).parts:
        raise IntegrityError(
            f"reference path {path!r} leaves {root}", missing=[], changed=[path], extra=[]
        )
    return target


def _read_file(local: Path) -> Iterator[bytes]:
    try:
        with open(local, "rb") as f:
            yield from iter(lambda: f.read(CHUNK), b"")
    except OSError as exc:  # reading it; writing the copy raises as it is
        raise _Unreadable(exc.strerror or str(exc)) from None


def _read_url(http: httpx.Client, uri: str) -> Iterator[bytes]:
    try:
        with http.stream("GET", uri) as response:
            if response.status_code != 200:
                raise _Unreadable(f"HTTP {response.status_code}")
            yield from response.iter_bytes(CHUNK)
    except httpx.HTTPError as exc:
        raise _Unreadable(f"{exc.__class__.__name__}: {exc}") from None


def _save(chunks: Iterator[bytes], target: Path, ref: ArtifactReference, name: str) -> None:
    """Write the bytes beside `target`, hashing them, and rename them into place only when
    they are the ones logged."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.forebear-tmp")
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if (ref.sha256 is not None and got != ref.sha256) or (
            ref.size is not None and size != ref.size
        ):
            raise IntegrityError(
                f"reference {ref.path} of {name} changed at {ref.uri} since it was logged: "
                f"sha256 {got} and {size} bytes, logged with "
                f"{ref.sha256 or 'no sha256'} and {ref.size if ref.size is not None else '?'}",
                missing=[],
                changed=[ref.path],
                extra=[],
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_tree(local: Path, target: Path) -> None:
    """A directory reference (logged with no checksum): its files copied under `target`."""
    try:
        shutil.copytree(local, target, dirs_exist_ok=True)
    except (OSError, shutil.Error) as exc:
        raise _Unreadable(str(exc)) from None
