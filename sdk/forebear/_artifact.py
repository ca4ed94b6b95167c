"""Artifacts: a set of files to log (built locally), or a logged version (bound to the server)
whose files can be listed, downloaded and verified."""

from __future__ import annotations

import contextlib
import copy
import operator
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union

from forebear._errors import BadInput, Conflict, ForebearError, IntegrityError, NotFound
from forebear._graphql import paged
from forebear._progress import bar
from forebear._transfer import SMALL, Cache, place

if TYPE_CHECKING:
    from forebear._api import Api, LinkedVersion
    from forebear._media import Media
    from forebear._runs import RunInfo

NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

VERSION_FIELDS = """id name project artifactName type index state digest description metadata
  aliases size fileCount createdAt committedAt references { path uri sha256 size }"""
# Where a reference's data may be (the server refuses other schemes).
REFERENCE = re.compile(r"^(s3|gs|az|abfss|hdfs|https?|file|git\+(https|ssh|file))://.+", re.I)
FILES = """query($id: String!, $after: String) { artifactVersion(ref: $id) {
  files(first: 1000, after: $after) { nodes { path size sha256 contentType }
  pageInfo { hasNextPage endCursor } } } }"""


def local_path(uri: str) -> Path | None:
    """The file or directory of this machine a `file://` URI names, its %-escapes decoded (as
    `Path.as_uri()` writes them; the path as written when only that one exists); None for
    another scheme, or a file of another host."""
    if not uri.lower().startswith("file://"):
        return None
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        return None
    decoded = Path(urllib.request.url2pathname(parts.path))
    written = Path(uri[len("file://") :])
    return written if written.exists() and not decoded.exists() else decoded


@dataclass(frozen=True)
class ArtifactFile:
    """One file of an artifact: its path inside it, size, sha256 and content type. A logged
    version's file downloads alone (W&B's manifest entry and public-API File)."""

    path: str
    size: int
    sha256: str
    content_type: str = "application/octet-stream"
    artifact: Artifact | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        """W&B's name of a file: its path inside the artifact."""
        return self.path

    @property
    def digest(self) -> str:
        return self.sha256

    @property
    def ref(self) -> None:
        """W&B's: a reference's URI; None for a file the registry holds."""
        return None

    def download(self, root: PathLike | None = None) -> Path:
        """Put this file under `root` (default: its artifact's ./artifacts/<name>-<version>)
        at its path, through the local cache, as `Artifact.download` does; return its path."""
        if self.artifact is None:
            raise ForebearError(f"{self.path} is not a logged version's file: nothing to fetch")
        return self.artifact._fetch([self], root) / self.path


@dataclass(frozen=True)
class ArtifactReference:
    """An entry whose data stays where it is (s3://, gs://, https://, file://...): its path in
    the artifact, its URI, and the sha256 and size it was logged with, when known. A logged
    version's `file://` and `http(s)://` references download alone (W&B's entry)."""

    path: str
    uri: str
    sha256: str | None = None
    size: int | None = None
    artifact: Artifact | None = field(default=None, repr=False, compare=False)

    @property
    def ref(self) -> str:
        """W&B's name of a reference entry's URI."""
        return self.uri

    def as_input(self) -> dict[str, Any]:
        """As the server takes it (ReferenceInput), and as an offline journal keeps it."""
        return {"path": self.path, "uri": self.uri, "sha256": self.sha256, "size": self.size}

    def download(self, root: PathLike | None = None) -> Path:
        """Fetch this reference under `root` (default: its artifact's) at its path, checked
        as `Artifact.download` fetches references; return its path. One of another scheme
        (s3://, gs://...) stays where it points: saying so, nothing is fetched."""
        from forebear._references import fetch_references, fetchable

        if self.artifact is None:
            raise ForebearError(
                f"{self.path} is not a logged version's reference: nothing to fetch"
            )
        if not fetchable(self):
            raise ForebearError(
                f"{self.uri} is read with its own client and credentials: the SDK fetches "
                "file:// and http(s):// references only"
            )
        target = Path(root) if root is not None else self.artifact.default_root()
        cache_dir = self.artifact._bound_api().settings.cache_dir
        fetch_references([self], target, self.artifact.qualified_name, False, cache_dir)
        return target / self.path


@dataclass
class _Version:
    """What the server holds of a logged version."""

    id: str
    name: str
    project: str
    index: int | None
    state: str
    digest: str
    aliases: list[str]
    size: int
    file_count: int
    created_at: str | None = None
    committed_at: str | None = None
    files: list[ArtifactFile] | None = None
    references: list[ArtifactReference] = field(default_factory=list)
    # as the server has them: what `save` compares the artifact's own with
    kept_aliases: tuple[str, ...] = ()
    kept_description: str = ""
    kept_metadata: dict[str, Any] = field(default_factory=dict)


PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class Artifact:
    """A named, typed set of files. Build one and log it with `Run.log_artifact`; or get a
    logged version from `Run.use_artifact`, `Api.artifact` or `log_artifact` itself, and
    `download`, `verify` or list its `files()`."""

    name: str
    type: str
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    # W&B's: logged as the latest version's files and references with this one's changes
    # (those added, and those `remove`d); `use_as` is accepted and unused
    incremental: bool = False
    use_as: str | None = None
    # path inside the artifact -> the local file, as a string (a directory of thousands of
    # files builds no Path object per file)
    _entries: dict[str, str] = field(default_factory=dict, repr=False)
    _references: dict[str, ArtifactReference] = field(default_factory=dict, repr=False)
    # directories of a path logged at once, listed as it is logged (after Api.log_artifact has
    # sent its question for the latest version, so that the server works meanwhile)
    _unlisted: list[Path] = field(default_factory=list, repr=False)
    _staging: Path | None = field(default=None, repr=False)
    _version: _Version | None = field(default=None, repr=False)
    _api: Api | None = field(default=None, repr=False)
    # why a version this is a stand-in for cannot be read (a use recorded offline or with
    # FOREBEAR_MODE=disabled): said instead of "not logged"
    _unreadable: str | None = field(default=None, repr=False)
    # aliases given before logging, pointed at the version when it is logged
    _draft_aliases: list[str] = field(default_factory=list, repr=False)
    # a draft's files kept from the version it was drafted from (new_draft): on the server
    # already, so logged by their sha256 with nothing uploaded; a file added at the same
    # path takes the place of one
    _kept: dict[str, ArtifactFile] = field(default_factory=dict, repr=False)
    # an incremental artifact's paths removed (files, references or directories), taken out of
    # the latest version's when it is logged
    _removed: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise BadInput(
                f"artifact name {self.name!r}: use 1-128 letters, digits, '.', '_' or '-'",
                field="name",
            )
        if not NAME.match(self.type):
            raise BadInput(f"artifact type {self.type!r}: use letters, digits, '.', '_' or '-'")

    # --- building --------------------------------------------------------------------------

    def add_file(
        self,
        local_path: PathLike,
        name: str | None = None,
        is_tmp: bool | None = False,
        skip_cache: bool | None = False,
        policy: str | None = "mutable",
        overwrite: bool = False,
    ) -> ArtifactFile:
        """Add one local file, as `name` inside the artifact (default: its file name); a name
        added again takes the later file. W&B's `is_tmp`, `skip_cache`, `policy` and
        `overwrite` are accepted and change nothing: the file is read when it is logged."""
        self._writable()
        source = Path(local_path)
        if not source.is_file():
            if source.is_dir():
                raise ForebearError(f"{source} is a directory: add it with add_dir")
            raise ForebearError(f"no file at {source.absolute()}")
        entry = _clean_path(name or source.name)
        self._entries[entry] = os.fspath(source)
        return ArtifactFile(entry, source.stat().st_size, "", content_type(entry))

    def add_dir(
        self,
        local_path: PathLike,
        name: str | None = None,
        skip_cache: bool | None = False,
        policy: str | None = "mutable",
        merge: bool = False,
    ) -> list[ArtifactFile]:
        """Add every file under a directory, under `name/` inside the artifact (default: at
        its root). W&B's `skip_cache`, `policy` and `merge` are accepted and change nothing."""
        found = self._add_dir(local_path, name, sizes=True)
        return [ArtifactFile(e, size, "", content_type(e)) for e, _, size in found]

    def _add_dir(
        self, local_path: PathLike, name: str | None, *, sizes: bool
    ) -> list[tuple[str, str, int]]:
        """add_dir's files: (path inside, local path, size), in path order; with `sizes`
        False nothing (a directory logged at once is looked at once, when it is logged: its
        files are added and stat'ed then)."""
        self._writable()
        root = Path(local_path)
        if not root.is_dir():
            raise ForebearError(f"{root} is not a directory")
        prefix = _clean_path(name) + "/" if name else ""
        added: dict[str, str] = {}
        folders = [(os.fspath(root), prefix)]
        while folders:  # scandir: a directory read once, no stat to tell files apart
            folder, inside = folders.pop()
            with os.scandir(folder) as listing:
                for item in listing:
                    # a listed name has no '/' and is never '.' or '..'; only a '\\' needs
                    # cleaning
                    entry = inside + item.name
                    if "\\" in item.name:
                        entry = _clean_path(entry)
                    if item.is_file():  # not a broken link, a socket, a fifo
                        added[entry] = item.path
                    elif item.is_dir():
                        folders.append((item.path, entry + "/"))
        self._entries.update(added)
        if not sizes:
            return []
        return [(entry, path, os.stat(path).st_size) for entry, path in sorted(added.items())]

    def add_reference(
        self,
        uri: str,
        name: str | None = None,
        checksum: bool = True,
        max_objects: int | None = None,
        *,
        sha256: str | None = None,
        size: int | None = None,
    ) -> ArtifactReference:
        """Add data that stays where it is (W&B's `add_reference`): `s3://`, `gs://`, `az://`,
        `abfss://`, `hdfs://`, `http(s)://` or `file://`, as `name` inside the artifact
        (default: the URI's last part). Nothing is uploaded; the registry keeps the URI and the
        `sha256` and `size` given (a `file://` reference to a file is hashed here unless given,
        or unless `checksum=False`, W&B's). `max_objects` is accepted and unused. `download`
        fetches `file://` and `http(s)://` references, checked against them; `references()`
        lists them."""
        self._writable()
        if not REFERENCE.match(uri):
            raise BadInput(
                f"{uri!r} is not a reference URI (s3://, gs://, az://, abfss://, hdfs://, "
                "http(s):// or file://)",
                field="uri",
            )
        local = local_path(uri)
        last = local.name if local is not None else uri.rstrip("/").rsplit("/", 1)[-1]
        entry = _clean_path(name or last)
        if entry in self._entries:
            raise BadInput(f"{entry!r} is a file of this artifact already", field="name")
        if local is not None and local.is_file() and checksum:
            from forebear._hashing import sha256_of

            size = local.stat().st_size if size is None else size
            sha256 = sha256_of(local) if sha256 is None else sha256
        found = ArtifactReference(entry, uri, sha256.lower() if sha256 else None, size)
        self._references[entry] = found
        return found

    def references(self) -> list[ArtifactReference]:
        """The references: of the logged version, or added so far; in path order."""
        if self._version is not None:
            return list(self._version.references)
        return [self._references[path] for path in sorted(self._references)]

    @contextlib.contextmanager
    def new_file(
        self, name: str, mode: str = "w", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        """Write a new file straight into the artifact: `with art.new_file("a.txt") as f:`."""
        self._writable()
        entry = _clean_path(name)
        target = self._staged(entry)
        if "b" not in mode and encoding is None:
            encoding = "utf-8"
        with open(target, mode, encoding=encoding) as f:
            yield f
        self._entries[entry] = str(target)

    def add(self, obj: Media, name: str) -> ArtifactFile:
        """Keep a forebear.Table, Image, Histogram, Audio, Video, Html or chart in the artifact
        as `name` and its suffix (`preds`: preds.table.json), as W&B's `add`; `get(name)`
        gives it back."""
        from forebear._media import Media, Table, cells_entry, cells_folder

        self._writable()
        if not isinstance(obj, Media):
            raise BadInput(
                "add() takes a forebear.Table, Image, Histogram, Audio, Video or Html: add "
                "files with add_file"
            )
        entry = _clean_path(name if name.endswith(obj.suffix) else name + obj.suffix)
        target = self._staged(entry)
        obj.write(target)
        self._entries[entry] = str(target)
        cells = cells_folder(target)  # a table's media cells, written beside it
        if isinstance(obj, Table) and cells.is_dir():
            for cell in sorted(cells.iterdir()):
                self._entries[f"{cells_entry(entry)}/{cell.name}"] = str(cell)
        return ArtifactFile(entry, target.stat().st_size, "", content_type(entry))

    def get(self, name: str) -> Media:
        """The media kept with `add` (W&B's `get`), by the name it was added as; of a logged
        version, its file is fetched (through the cache)."""
        from forebear._media import KEPT_MEDIA, cell_files

        files: dict[str, ArtifactFile] = {}
        if self._version is None:  # not logged yet: the paths added, none of them hashed
            known = {*self._kept, *dict(self._ordered())}
        else:
            files = {f.path: f for f in self.files()}
            known = set(files)
        found = [
            (kind, entry)
            for kind in KEPT_MEDIA
            for suffix in kind.suffixes()
            for entry in (name if name.endswith(suffix) else name + suffix,)
            if entry in known
        ]
        if not found:
            raise NotFound(f"{self.qualified_name} holds no media {name!r} (kept with add)")
        kind, entry = found[0]
        if self._version is None:
            return kind.read(self._added(entry))
        # the file, and a table's media cells beside it, fetched together (small files many
        # to a request), into this object's staging folder
        wanted = [files[path] for path in (entry, *cell_files(entry, files))]
        return kind.read(self._fetch(wanted, self._staging_root()) / entry)

    def _added(self, entry: str) -> Path:
        """The local file added as `entry` (not logged yet)."""
        local = self._entries.get(entry)
        if local is None:
            raise ForebearError(
                f"{entry} is kept from the version this draft came from: get it there"
            )
        return Path(local)

    def _fetched(self, found: ArtifactFile) -> Path:
        """One file of the logged version, fetched (through the cache) into a staging folder
        of this object's, named as in the artifact."""
        api = self._bound_api()
        assert self._version is not None
        cached = Cache(api.settings.cache_dir).fetch(
            api._client, self._version.id, found.path, found.sha256, found.size
        )
        target = self._staged(found.path)
        place(cached, target)
        return target

    def _staged(self, entry: str) -> Path:
        """Where a file written for this artifact goes: in a folder of its own, removed with
        it (files written there are uploaded from there)."""
        target = self._staging_root() / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def _staging_root(self) -> Path:
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix="forebear-"))
            weakref.finalize(self, shutil.rmtree, str(self._staging), True)
        return self._staging

    def remove(self, item: str | ArtifactFile | ArtifactReference) -> None:
        """Take an entry back out before logging (W&B's `remove`): a file or reference by
        its path inside the artifact, or every entry under a directory's path. A table's
        file goes with its media cells (the folder beside it)."""
        from forebear._media import cells_entry

        self._writable()
        self._ordered()  # directories added whole are listed now: their files can go
        path = item.path if isinstance(item, (ArtifactFile, ArtifactReference)) else item
        entry = _clean_path(path)
        folders = [entry + "/"]
        if entry.endswith(".table.json"):
            folders.append(cells_entry(entry) + "/")
        everything = [*self._entries, *self._references, *self._kept]
        gone = [e for e in everything if e == entry or e.startswith(tuple(folders))]
        if self.incremental:  # the latest version's, not known yet, go when it is logged
            self._removed.update([entry, *(f.rstrip("/") for f in folders[1:])])
        elif not gone:
            raise NotFound(f"{self.name} has no file, reference or directory {entry!r}")
        for e in gone:
            self._entries.pop(e, None)
            self._references.pop(e, None)
            self._kept.pop(e, None)

    def get_path(self, name: str) -> ArtifactFile | ArtifactReference:
        """W&B's older name of `get_entry`."""
        return self.get_entry(name)

    def get_entry(self, name: str) -> ArtifactFile | ArtifactReference:
        """One entry by its path inside the artifact (W&B's `get_entry`): a file, with its
        size and sha256, or a reference. Logged or not."""
        entry = _clean_path(name)
        for ref in self.references():
            if ref.path == entry:
                return ref
        if self._version is not None:
            for found in self.files():
                if found.path == entry:
                    return found
        else:
            local = dict(self._ordered()).get(entry)
            if local is not None:
                from forebear._hashing import HashCache
                from forebear._settings import Settings

                digest = HashCache(Settings.load().cache_dir).sha256(local)
                return ArtifactFile(entry, os.stat(local).st_size, digest, content_type(entry))
            if entry in self._kept:
                return self._kept[entry]
        raise NotFound(f"{self.qualified_name} has no entry {entry!r}: see files()")

    def _add_dir_when_logged(self, local_path: PathLike) -> None:
        """Every file under a directory, at the artifact's root, listed when the artifact is
        logged: a path logged at once (log_artifact, `forebear artifact put`)."""
        root = Path(local_path)
        if not root.is_dir():
            raise ForebearError(f"{root} is not a directory")
        self._unlisted.append(root)

    def _ordered(self) -> list[tuple[str, str]]:
        """The files added: (path inside, local path), in path order (compared by path alone:
        paths are unique)."""
        while self._unlisted:
            self._add_dir(self._unlisted.pop(), None, sizes=False)
        return sorted(self._entries.items(), key=operator.itemgetter(0))

    def _kept_files(self) -> list[ArtifactFile]:
        """A draft's files kept from the version it came from, but for those a file or
        reference added since has taken the place of (after `_ordered`)."""
        return [
            kept
            for path, kept in sorted(self._kept.items())
            if path not in self._entries and path not in self._references
        ]

    def new_draft(self) -> Artifact:
        """A new, unlogged artifact holding this version's files, references, description
        and metadata (W&B's `new_draft`): add, replace or remove entries, then log it as the
        next version. Kept files are not downloaded, nor uploaded again."""
        if self._version is None:
            raise ForebearError(f"{self.name!r} is not logged: it is a draft already")
        return Artifact(
            name=self.name,
            type=self.type,
            description=self.description,
            metadata=copy.deepcopy(self.metadata),
            _references={r.path: r for r in self.references()},
            _kept={f.path: f for f in self.files()},
        )

    def _on_latest(self, latest: Artifact | None) -> None:
        """An incremental artifact about to be logged: the latest version's files and
        references (None: there is none yet) kept, but for those added or removed since."""
        if latest is None:
            return
        if latest.type != self.type:
            raise BadInput(
                f"{self.name} is incremental on {latest.qualified_name}, a {latest.type}, not a "
                f"{self.type}"
            )
        self._ordered()  # directories added whole are listed now

        def taken(path: str) -> bool:
            return (
                path in self._entries
                or path in self._references
                or any(path == r or path.startswith(r + "/") for r in self._removed)
            )

        for found in latest.files():
            if not taken(found.path):
                self._kept.setdefault(found.path, found)
        for ref in latest.references():
            if not taken(ref.path):
                self._references.setdefault(ref.path, ref)

    def _writable(self) -> None:
        if self._version is not None:
            raise ForebearError(
                f"{self.qualified_name} is logged already: versions are immutable; make a new "
                "Artifact to log a new version"
            )

    # --- a logged version --------------------------------------------------------------------

    @property
    def logged(self) -> bool:
        return self._version is not None

    @property
    def id(self) -> str | None:
        return self._version.id if self._version else None

    @property
    def url(self) -> str | None:
        """The version's page in the web app (files, metadata, the runs that made and used
        it), once logged (W&B's `artifact.url`)."""
        if self._version is None or self._api is None:
            return None
        return f"{self._api.settings.url}/versions/{self._version.id}"

    @property
    def version(self) -> str | None:
        """`v3`, once logged and committed."""
        v = self._version
        return f"v{v.index}" if v is not None and v.index is not None else None

    @property
    def qualified_name(self) -> str:
        """project/name:vN once logged, else the name."""
        return self._version.name if self._version else self.name

    @property
    def project(self) -> str | None:
        return self._version.project if self._version else None

    @property
    def aliases(self) -> list[str]:
        """The version's aliases: edit the list (or set it) and `save()`, as in W&B. Before
        logging, the aliases it gets when it is logged."""
        return self._version.aliases if self._version else self._draft_aliases

    @aliases.setter
    def aliases(self, value: list[str]) -> None:
        self.aliases[:] = list(value)

    @property
    def digest(self) -> str | None:
        return self._version.digest if self._version else None

    @property
    def state(self) -> str:
        """W&B's: COMMITTED (or DELETED) once logged, PENDING before."""
        return self._version.state if self._version else "PENDING"

    @property
    def created_at(self) -> str | None:
        """When the version was made (ISO 8601, UTC), once logged."""
        return self._version.created_at if self._version else None

    @property
    def updated_at(self) -> str | None:
        """When the version was committed (ISO 8601, UTC), once logged."""
        return self._version.committed_at if self._version else None

    @property
    def source_name(self) -> str:
        """W&B's `name:vN` of the version itself (a Forebear Artifact is always the source
        version, also when read through a registry reference); the name before logging."""
        return f"{self.name}:{self.version}" if self.version else self.name

    @property
    def source_version(self) -> str | None:
        return self.version

    @property
    def source_project(self) -> str | None:
        return self.project

    @property
    def source_qualified_name(self) -> str:
        return self.qualified_name

    @property
    def is_link(self) -> bool:
        """W&B's: False, a Forebear Artifact is the version itself (`Api.linked` gives a
        registry's linked version)."""
        return False

    @property
    def size(self) -> int | None:
        """Bytes of a logged version's files (references as given), as W&B's `size`."""
        return self._version.size if self._version else None

    @property
    def file_count(self) -> int | None:
        """How many files a logged version holds, as W&B's `file_count`."""
        return self._version.file_count if self._version else None

    def files(self) -> list[ArtifactFile]:
        """The files: of the logged version (from the server), or added so far (hashed)."""
        if self._version is None:
            from forebear._hashing import HashCache
            from forebear._settings import Settings

            ordered = self._ordered()
            stats = [os.stat(p) for _, p in ordered]  # one stat a file, for the cache and sizes
            digests = HashCache(Settings.load().cache_dir).digests(
                [p for _, p in ordered], stats=stats
            )
            local = [
                ArtifactFile(e, st.st_size, sha, content_type(e))
                for (e, _), st, sha in zip(ordered, stats, digests)
            ]
            return sorted([*local, *self._kept_files()], key=operator.attrgetter("path"))
        if self._version.files is None:
            self._version.files = self._server_files()
        return list(self._version.files)

    def _server_files(self) -> list[ArtifactFile]:
        api = self._bound_api()
        version = self._version
        assert version is not None

        def page(after: str | None) -> dict[str, Any]:
            files: dict[str, Any] = api._client.graphql(FILES, id=version.id, after=after)[
                "artifactVersion"
            ]["files"]
            return files

        return [
            ArtifactFile(n["path"], int(n["size"]), n["sha256"], n["contentType"], self)
            for n in paged(page)
        ]

    def _bound_api(self) -> Api:
        if self._unreadable is not None:
            raise ForebearError(self._unreadable)
        if self._api is None or self._version is None:
            raise ForebearError(
                f"artifact {self.name!r} is not logged: log it with run.log_artifact first"
            )
        return self._api

    def default_root(self) -> Path:
        v = self._version
        label = f"{self.name}-{self.version}" if v and v.index is not None else self.name
        return Path("artifacts") / label

    def download(
        self,
        root: PathLike | None = None,
        allow_missing_references: bool = False,
        skip_cache: bool | None = None,
        path_prefix: str | None = None,
        multipart: bool | None = None,
    ) -> Path:
        """Put the version's files under `root` (default ./artifacts/<name>-<version>), through
        the local cache (each content downloaded once, verified; small files many to a
        request); return the root. References are fetched there too, as W&B's are: a
        `file://` file or directory of this machine copied, an `http(s)://` URL downloaded,
        each checked against the sha256 and size it was logged with; one that cannot be read
        raises NotFound unless `allow_missing_references`. Other schemes (s3://, gs://...)
        stay where they point. `path_prefix` (W&B's) fetches only the entries whose path
        starts with it; `skip_cache` and `multipart` change nothing."""
        from forebear._references import fetch_references

        cache_dir = self._bound_api().settings.cache_dir
        prefix = path_prefix or ""
        target = self._fetch([f for f in self.files() if f.path.startswith(prefix)], root)
        refs = [r for r in self.references() if r.path.startswith(prefix)]
        fetch_references(refs, target, self.qualified_name, allow_missing_references, cache_dir)
        return target

    def _fetch(self, files: list[ArtifactFile], root: PathLike | None) -> Path:
        """Put `files` of this logged version under `root` (see download); the root."""
        api = self._bound_api()
        assert self._version is not None
        target = Path(root) if root is not None else self.default_root()
        cache = Cache(api.settings.cache_dir)
        total = sum(f.size for f in files)
        version_id = self._version.id
        contents = {f.sha256: f for f in files}  # each content fetched once
        with bar(f"downloading {self.qualified_name}", total, api.settings.silent) as advance:
            cached = cache.present({sha: f.size for sha, f in contents.items()})
            wanted = {sha: f for sha, f in contents.items() if sha not in cached}
            if advance is not None:
                advance(sum(contents[sha].size for sha in cached))
            small = {s: (f.path, f.size) for s, f in wanted.items() if f.size < SMALL}
            if small:
                cache.fetch_many(api._client, version_id, small, advance)
            large = [f for s, f in wanted.items() if s not in small]
            with ThreadPoolExecutor(2) as pool:
                futures = [
                    pool.submit(
                        cache.fetch, api._client, version_id, f.path, f.sha256, f.size, advance
                    )
                    for f in large
                ]
                for future in futures:
                    future.result()
            for f in files:
                place(cache.path(f.sha256), target / f.path)
        cache.evict(keep={cache.path(sha) for sha in contents})
        return target

    def wait(self, timeout: float | None = None) -> Artifact:
        """This artifact, logged: W&B's `wait` for a log to finish. Forebear's log_artifact
        returns once the version is committed, so nothing waits (nor needs `timeout`); an
        artifact not logged yet raises, saying to log it first."""
        self._bound_api()  # not logged: says to log it first
        return self

    def file(self, root: PathLike | None = None) -> Path:
        """Download a version of one file (as `download`); the file's path (W&B's `file`)."""
        files = self.files()
        if len(files) != 1:
            raise ForebearError(
                f"{self.qualified_name} holds {len(files)} files, not one: use download()"
            )
        return self.download(root) / files[0].path

    def link(self, target_path: str, aliases: list[str] | None = None) -> LinkedVersion:
        """Link this logged version into `registry/collection` (made when missing), pointing
        `aliases` at it; as W&B's `link` (its `wandb-registry-model/...` paths too)."""
        api = self._bound_api()
        assert self._version is not None
        return api.link(self._version.id, registry_path(target_path), tuple(aliases or ()))

    # --- where it came from and where it went (W&B's logged_by and used_by) --------------

    def logged_by(self) -> RunInfo | None:
        """The run that logged this version; None when no run did, or when that run is in a
        project you are not a member of."""
        from forebear._runs import RUN_FIELDS, RunInfo

        api = self._bound_api()
        found = self._read(api, f"producedBy {{ {RUN_FIELDS} }}")["producedBy"]
        return RunInfo.of(api, found) if found else None

    def used_by(self) -> list[RunInfo]:
        """The runs that used this version, in the order they said so (runs of projects you
        are not a member of are left out)."""
        from forebear._runs import RUN_FIELDS, RunInfo

        api = self._bound_api()

        def page(after: str | None) -> dict[str, Any]:
            runs: dict[str, Any] = self._read(
                api,
                f"""consumedBy(first: 100, after: $after) {{ nodes {{ {RUN_FIELDS} }}
                pageInfo {{ hasNextPage endCursor }} }}""",
                after=after,
            )["consumedBy"]
            return runs

        return [RunInfo.of(api, node) for node in paged(page)]

    @property
    def linked_artifacts(self) -> list[LinkedVersion]:
        """Where this version is registered (W&B's `linked_artifacts`): its live links, in
        registries you may read, as `registry/collection:vN` with their aliases and stages."""
        from forebear._api import LINK_FIELDS, LinkedVersion

        links = self._read(self._bound_api(), f"links {{ {LINK_FIELDS} }}")["links"]
        return [LinkedVersion.of(link) for link in links]

    def _read(self, api: Api, fields: str, **variables: Any) -> dict[str, Any]:
        """These fields of this version, as the server has them now."""
        assert self._version is not None
        declared = "".join(f", ${name}: String" for name in variables)
        found: dict[str, Any] | None = api.graphql(
            f"query($id: String!{declared}) {{ artifactVersion(ref: $id) {{ {fields} }} }}",
            id=self._version.id,
            **variables,
        )["artifactVersion"]
        if found is None:
            raise NotFound(f"{self.qualified_name} is no longer there (deleted?)")
        return found

    # --- changing it after it is logged ------------------------------------------------------

    def save(self, project: str | None = None) -> Artifact:
        """W&B's `save`. A logged version: the aliases as edited in `aliases` are set and
        removed on the server (its description and metadata are fixed once logged). One not
        logged yet: the current run logs it, or, with none, a run of job type `auto` started
        for it in `project` (as W&B's)."""
        if self._version is None:
            from forebear._run import current, init

            run = current()
            if run is not None:
                return run.log_artifact(self)
            with init(project=project, job_type="auto") as auto:
                return auto.log_artifact(self)
        api = self._bound_api()
        version = self._version
        if (self.description, self.metadata) != (version.kept_description, version.kept_metadata):
            raise BadInput(
                f"{self.qualified_name}: a logged version's description and metadata are fixed; "
                "log a new version to change them"
            )
        if "latest" in version.kept_aliases and "latest" not in version.aliases:
            raise BadInput(
                f"{self.qualified_name}: `latest` goes with the newest version and cannot be "
                "removed; it moves when a newer one is logged"
            )
        wanted = list(dict.fromkeys(version.aliases))
        for alias in [a for a in version.kept_aliases if a not in wanted]:
            api.remove_artifact_alias(version.project, self.name, alias)
        for alias in [a for a in wanted if a not in version.kept_aliases]:
            api.set_artifact_alias(version.id, alias)
        record = self._read(api, VERSION_FIELDS)
        version.aliases[:] = record["aliases"]
        version.kept_aliases = tuple(record["aliases"])
        return self

    def delete(self, delete_aliases: bool = False, confirm: bool = False) -> None:
        """Delete this version (`Api.restore_version` brings it back). As in W&B, a version
        holding aliases other than `latest` is refused unless `delete_aliases`, which removes
        them first; one that runs used, versions were made from or registries link is refused
        (naming them) unless `confirm`."""
        api = self._bound_api()
        version = self._version
        assert version is not None
        held = [a for a in self._read(api, "aliases")["aliases"] if a != "latest"]
        if held and not delete_aliases:
            raise Conflict(
                f"{self.qualified_name} holds aliases {', '.join(held)}: remove them with it "
                "(delete_aliases=True; --delete-aliases from the command line)"
            )
        if not confirm:  # asked before any alias goes: a refusal leaves the version as it was
            found = api.graphql(
                """query($id: ID!) { dependents(of: $id) { total consumingRuns
                downstreamVersions linkedVersions { name } } }""",
                id=version.id,
            )["dependents"]
            if found["total"]:
                said = []
                if found["consumingRuns"]:
                    said.append(f"{len(found['consumingRuns'])} run(s) used it")
                if found["downstreamVersions"]:
                    said.append(f"{len(found['downstreamVersions'])} version(s) made from it")
                if found["linkedVersions"]:
                    links = ", ".join(link["name"] for link in found["linkedVersions"])
                    said.append(f"linked as {links}")
                if not said:
                    said.append(f"{found['total']} you may not read")
                raise Conflict(
                    f"{self.qualified_name} has dependents ({'; '.join(said)}): "
                    "confirm to delete it anyway (confirm=True; --confirm from the command line)"
                )
        for alias in held:
            api.remove_artifact_alias(version.project, self.name, alias)
        api.delete_version(version.id, confirm=confirm)
        version.state = "DELETED"

    def verify(self, root: PathLike | None = None) -> None:
        """Check that `root` holds exactly the version's files: raise IntegrityError naming
        those missing, changed (another sha256) or extra. A reference is not missing when
        absent (download may leave it where it points); when present (fetched), it is checked
        against the sha256 and size it was logged with, and what a directory reference
        brought is not extra."""
        from forebear._hashing import sha256_of

        base = Path(root) if root is not None else self.default_root()
        expected: dict[str, tuple[int | None, str | None]] = {
            f.path: (f.size, f.sha256) for f in self.files()
        }
        refs = {r.path: (r.size, r.sha256) for r in self.references()}
        present = (
            {p.relative_to(base).as_posix(): p for p in base.rglob("*") if p.is_file()}
            if base.is_dir()
            else {}
        )
        under_refs = tuple(path + "/" for path in refs)
        missing = sorted(set(expected) - set(present))
        extra = sorted(
            path
            for path in set(present) - set(expected) - set(refs)
            if not path.startswith(under_refs)
        )
        checked = {**expected, **{path: logged for path, logged in refs.items() if path in present}}
        changed = sorted(
            path
            for path, (size, sha256) in checked.items()
            if path in present
            and (
                (size is not None and present[path].stat().st_size != size)
                or (sha256 is not None and sha256_of(present[path]) != sha256)
            )
        )
        if missing or changed or extra:
            parts = [
                f"{label}: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}"
                for label, names in (("missing", missing), ("changed", changed), ("extra", extra))
                if names
            ]
            raise IntegrityError(
                f"{base} does not match {self.qualified_name}: " + "; ".join(parts),
                missing=missing,
                changed=changed,
                extra=extra,
            )


def stand_in(ref: str, type: str | None, why: str) -> Artifact:
    """An Artifact standing for a version that cannot be read here: reading its files says
    `why`."""
    name = ref.split("/", 1)[-1].split(":", 1)[0]
    return Artifact(name=name, type=type or "artifact", _unreadable=why)


def bound(api: Api, record: dict[str, Any]) -> Artifact:
    """An Artifact for a version the server described (VERSION_FIELDS)."""
    art = Artifact(
        name=record["artifactName"],
        type=record["type"],
        description=record.get("description") or "",
        metadata=dict(record.get("metadata") or {}),
    )
    art._version = _Version(
        id=record["id"],
        name=record["name"],
        project=record["project"],
        index=record.get("index"),
        state=record["state"],
        digest=record["digest"],
        aliases=list(record.get("aliases") or []),
        size=int(record.get("size") or 0),
        file_count=int(record.get("fileCount") or 0),
        created_at=record.get("createdAt"),
        committed_at=record.get("committedAt"),
        references=[
            ArtifactReference(r["path"], r["uri"], r.get("sha256"), r.get("size"), art)
            for r in record.get("references") or []
        ],
        kept_aliases=tuple(record.get("aliases") or ()),
        kept_description=art.description,
        kept_metadata=copy.deepcopy(art.metadata),
    )
    art._api = api
    return art


def _clean_path(name: str) -> str:
    path = name.replace("\\", "/").strip("/")
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts):
        raise BadInput(f"file name {name!r} inside an artifact: a relative path without '..'")
    return path


def content_type(path: str) -> str:
    """The media type a file's last suffix names (application/octet-stream if none): the same
    on every machine (the system's mime.types calls a PyTorch `.pt` a SNES page table) and
    with no table to load (a compressed `data.csv.gz` is application/gzip: its bytes are)."""
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    suffix = name[dot:].lower() if dot > 0 else ""  # a dotfile's name is not a suffix
    return MEDIA_TYPES.get(suffix, "application/octet-stream")


# Files' suffixes -> IANA media types: text and images that a page can show, and the
# archives and data formats artifacts are made of. Everything else (weights, pickles,
# arrays) is application/octet-stream.
MEDIA_TYPES: dict[str, str] = {
    ".txt": "text/plain",
    ".log": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".py": "text/x-python",
    ".xml": "application/xml",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".ndjson": "application/x-ndjson",
    ".ipynb": "application/x-ipynb+json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".sh": "application/x-sh",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".apng": "image/apng",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".zip": "application/zip",
    ".tar": "application/x-tar",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
    ".7z": "application/x-7z-compressed",
    ".parquet": "application/vnd.apache.parquet",
    ".arrow": "application/vnd.apache.arrow.file",
    ".feather": "application/vnd.apache.arrow.file",
    ".h5": "application/x-hdf5",
    ".hdf5": "application/x-hdf5",
}


def registry_path(target: str) -> str:
    """registry/collection from W&B-style target paths too (entity/registry/collection,
    wandb-registry-model/collection)."""
    parts = target.strip("/").split("/")
    if len(parts) == 3:
        parts = parts[1:]
    if parts and parts[0].startswith("wandb-registry-"):
        parts[0] = parts[0][len("wandb-registry-") :]
    return "/".join(parts)
