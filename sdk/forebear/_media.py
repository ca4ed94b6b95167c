"""W&B's media in `run.log`: images, audio, video, HTML, tables, histograms and charts
(`forebear.plot`). Each value logged is written as a file named after its key and step
(`val/examples/3_0.png`, `preds/3.table.json`); when the run ends, the files are logged as the
run's own `run-<run id>-media` artifact, and the summary names each key's last file, as W&B's
does."""

from __future__ import annotations

import array
import importlib
import io
import json
import math
import numbers
import os
import shutil
import struct
import sys
import tempfile
import wave
import weakref
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Union

from forebear._errors import BadInput
from forebear._graphql import jsonable

PathLike = Union[str, "os.PathLike[str]"]
# a media file's suffix -> the format the summary names
IMAGE_FILES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".bmp": "bmp"}
AUDIO_FILES = {".wav": "wav", ".mp3": "mp3", ".ogg": "ogg", ".flac": "flac"}
VIDEO_FILES = {".mp4": "mp4", ".webm": "webm", ".gif": "gif", ".apng": "apng"}


class Media:
    """A value `run.log` keeps as a file rather than a number."""

    kind = ""  # the summary's `_type`
    suffix = ""

    def write(self, path: Path) -> dict[str, Any]:
        """Write the file at `path`; what the summary says of it (besides its path)."""
        raise NotImplementedError

    @classmethod
    def suffixes(cls) -> Sequence[str]:
        """The file names' endings this kind of media is kept under."""
        return (cls.suffix,)

    @classmethod
    def read(cls, path: Path) -> Media:
        """The media a file kept by `write` holds (`Artifact.get`)."""
        return cls(path)  # type: ignore[call-arg]


class _FileMedia(Media):
    """Media kept as a file of its own kind: one given (copied as it is) or bytes made here
    from data (`_data`, with `suffix`)."""

    files: ClassVar[dict[str, str]] = {}  # the suffixes taken -> the format the summary names
    otherwise = ""  # what else may be given, for errors

    def __init__(self, caption: str | None) -> None:
        self.caption = caption
        self._file: Path | None = None
        self._data = b""

    def _take(self, path: PathLike) -> Path:
        """Keep a file as it is (its suffix says what it is)."""
        self._file = Path(path)
        self.suffix = self._file.suffix.lower()
        if self.suffix not in self.files or not self._file.is_file():
            *most, last = self.files
            raise BadInput(
                f"{type(self).__name__}({os.fspath(path)!r}): give a {', '.join(most)} or "
                f"{last} file that exists{self.otherwise}"
            )
        return self._file

    @classmethod
    def suffixes(cls) -> Sequence[str]:
        return tuple(cls.files)

    def write(self, path: Path) -> dict[str, Any]:
        if self._file is not None:
            shutil.copyfile(self._file, path)
        else:
            path.write_bytes(self._data)
        found: dict[str, Any] = {"format": self.files[self.suffix], **self._said()}
        if self.caption is not None:
            found["caption"] = self.caption
        return found

    def _said(self) -> dict[str, Any]:
        """What else the summary says of it, when known."""
        return {}


class Image(_FileMedia):
    """An image (W&B's `wandb.Image`): a file's path, a PIL image, or an array of pixels
    (height x width, or x 1, 3 or 4 channels; a torch tensor channels first) of integers
    0-255 or of floats 0-1, stored as PNG. `mode` and `file_type` are accepted and unused."""

    kind = "image-file"
    files = IMAGE_FILES
    otherwise = ", a PIL image or an array of pixels"

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        file_type: str | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__(caption)
        self.width: int | None = None
        self.height: int | None = None
        if isinstance(data_or_path, (str, os.PathLike)):
            size = _image_size(self._take(data_or_path))
            if size is not None:
                self.width, self.height = size
            return
        self.suffix = ".png"
        if hasattr(data_or_path, "save") and hasattr(data_or_path, "size"):  # a PIL image
            buffer = io.BytesIO()
            data_or_path.save(buffer, format="PNG")
            self._data = buffer.getvalue()
            self.width, self.height = data_or_path.size
            return
        rows = _pixel_rows(data_or_path, hasattr(data_or_path, "detach"), "Image")
        self._data = _png([_scanlines(rows, normalize)], rows)
        self.width, self.height = len(rows[0]), len(rows)

    def _said(self) -> dict[str, Any]:
        return {} if self.width is None else {"width": self.width, "height": self.height}


class Audio(_FileMedia):
    """A sound (W&B's `wandb.Audio`): a .wav, .mp3, .ogg or .flac file's path, or an array of
    samples (one channel, or samples x channels) with its `sample_rate`: floats -1 to 1 or
    16-bit integers, stored as 16-bit WAV."""

    kind = "audio-file"
    files = AUDIO_FILES
    otherwise = ", or an array of samples with sample_rate="

    def __init__(
        self, data_or_path: Any, sample_rate: int | None = None, caption: str | None = None
    ) -> None:
        super().__init__(caption)
        self.sample_rate = sample_rate
        self.duration: float | None = None
        if isinstance(data_or_path, (str, os.PathLike)):
            path = self._take(data_or_path)
            if self.suffix == ".wav":
                try:
                    with wave.open(str(path), "rb") as sound:
                        self.sample_rate = sound.getframerate()
                        self.duration = sound.getnframes() / self.sample_rate
                except (wave.Error, EOFError, ZeroDivisionError) as exc:
                    raise BadInput(f"Audio({os.fspath(path)!r}): not a WAV file: {exc}") from None
            return
        if sample_rate is None or sample_rate <= 0:
            raise BadInput("Audio: give the sample_rate of an array of samples (in Hz)")
        self.suffix = ".wav"
        self._data, frames = _wav_of(data_or_path, int(sample_rate))
        self.duration = frames / sample_rate

    def _said(self) -> dict[str, Any]:
        said: dict[str, Any] = {}
        if self.sample_rate is not None:
            said["sample_rate"] = self.sample_rate
        if self.duration is not None:
            said["duration"] = round(self.duration, 6)
        return said


class Video(_FileMedia):
    """A video (W&B's `wandb.Video`): a .mp4, .webm, .gif or .apng file's path, or an array of
    frames (time x channels x height x width, as W&B's; integers 0-255 or floats 0-1), stored
    as an animated PNG at `fps` frames a second, which browsers play with no codec. `format`
    is accepted: frames are always stored as an animated PNG."""

    kind = "video-file"
    files = VIDEO_FILES
    otherwise = ", or an array of frames (time x channels x height x width)"

    def __init__(
        self,
        data_or_path: Any,
        caption: str | None = None,
        fps: int | None = None,
        format: str | None = None,
    ) -> None:
        super().__init__(caption)
        self.fps = fps
        self.width: int | None = None
        self.height: int | None = None
        if isinstance(data_or_path, (str, os.PathLike)):
            self._take(data_or_path)
            return
        self.fps = fps or 4  # W&B's
        if not 1 <= self.fps <= 1000:
            raise BadInput(f"Video: fps={fps}: 1 to 1000 frames a second")
        frames = _plain(data_or_path)
        if not isinstance(frames, list) or not frames or _depth(frames) != 4:
            raise BadInput(
                "Video: give a file's path or an array of frames, time x channels x height x "
                "width (a batch of videos: log each apart)"
            )
        shown = [_pixel_rows(frame, True, "Video") for frame in frames]
        first = shown[0]
        shape = (len(first), len(first[0]), len(first[0][0]))
        if any((len(f), len(f[0]), len(f[0][0])) != shape for f in shown):
            raise BadInput("Video: every frame has the same height, width and channels")
        self.suffix = ".apng"
        self._data = _png([_scanlines(rows, True) for rows in shown], first, self.fps)
        self.height, self.width = shape[0], shape[1]

    def _said(self) -> dict[str, Any]:
        said: dict[str, Any] = {} if self.fps is None else {"fps": self.fps}
        if self.width is not None:
            said.update(width=self.width, height=self.height)
        return said


class Html(Media):
    """An HTML page (W&B's `wandb.Html`): a string of HTML, an .html file's path or an open
    file. `inject` is accepted and unused. The web app shows it without running its scripts."""

    kind = "html-file"
    suffix = ".html"

    def __init__(self, data: Any, inject: bool = True, data_is_not_path: bool = False) -> None:
        if hasattr(data, "read"):
            text = data.read()
        elif isinstance(data, os.PathLike) or (
            isinstance(data, str)
            and not data_is_not_path
            and data.lower().endswith((".html", ".htm"))
            and os.path.isfile(data)
        ):
            text = Path(data).read_bytes()
        elif isinstance(data, str):
            text = data
        else:
            raise BadInput("Html: give a string of HTML, an .html file's path or an open file")
        self.html = text.decode("utf-8") if isinstance(text, bytes) else str(text)

    def write(self, path: Path) -> dict[str, Any]:
        path.write_text(self.html, encoding="utf-8")
        return {}


class Table(Media):
    """Rows under named columns (W&B's `wandb.Table`): `columns` and `data` (a list of rows),
    or a pandas `dataframe`; `add_data(*row)` adds a row. Stored as JSON."""

    kind = "table-file"
    suffix = ".table.json"
    media_cells = True  # whether a cell may hold an Image, Audio, Video or Html

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        data: Sequence[Sequence[Any]] | None = None,
        rows: Sequence[Sequence[Any]] | None = None,
        dataframe: Any = None,
    ) -> None:
        if dataframe is not None:
            columns = [str(c) for c in dataframe.columns]
            data = dataframe.values.tolist()
        rows = data if data is not None else rows
        self.data: list[list[Any]] = []
        first = list(rows[0]) if rows else []
        self.columns = [str(c) for c in columns] if columns is not None else []
        if not self.columns:
            self.columns = [f"column_{i}" for i in range(len(first))]
        for row in rows or ():
            self.add_data(*row)

    def add_data(self, *row: Any) -> None:
        """Add a row: numbers, text, or an Image, Audio, Video or Html in a cell (each kept
        as a file beside the table's, as W&B's)."""
        if len(row) != len(self.columns):
            raise BadInput(
                f"a row of {len(row)} values in a table of {len(self.columns)} columns "
                f"({', '.join(self.columns)})"
            )
        self.data.append([_cell(value, self) for value in row])

    def add_column(self, name: str, data: Any) -> None:
        """Add a column of values, one per row (a list or an array; W&B's `add_column`)."""
        values = [_cell(value, self) for value in _plain(data)]
        if str(name) in self.columns:
            raise BadInput(f"the table has a column {name!r} already")
        if self.data and len(values) != len(self.data):
            raise BadInput(f"column {name!r}: {len(values)} values for {len(self.data)} rows")
        if not self.data:
            self.data = [[] for _ in values]
        self.columns.append(str(name))
        for row, value in zip(self.data, values):
            row.append(value)

    def get_column(self, name: str) -> list[Any]:
        """A column's values, row by row (W&B's `get_column`)."""
        if name not in self.columns:
            raise BadInput(f"no column {name!r}: the table has {', '.join(self.columns)}")
        at = self.columns.index(name)
        return [row[at] for row in self.data]

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame (W&B's `get_dataframe`; pandas is not installed
        with the SDK)."""
        try:
            pandas = importlib.import_module("pandas")
        except ImportError:
            raise BadInput("get_dataframe needs pandas: pip install pandas") from None
        return pandas.DataFrame(self.data, columns=self.columns)

    def write(self, path: Path) -> dict[str, Any]:
        """The table as JSON at `path`; a media cell as a file in the folder beside it
        (`preds/3.table.json`: `preds/3.table/<row>_<column>.png`), which its cell names."""
        folder = cells_folder(path)
        shutil.rmtree(folder, ignore_errors=True)  # written again: no cell of before stays
        data = []
        for i, row in enumerate(self.data):
            kept = []
            for j, value in enumerate(row):
                if isinstance(value, Media):
                    folder.mkdir(exist_ok=True)
                    file = folder / f"{i}_{j}{value.suffix}"
                    said = value.write(file)
                    value = {"_type": value.kind, "path": f"{folder.name}/{file.name}", **said}
                kept.append(value)
            data.append(kept)
        path.write_text(json.dumps({"columns": self.columns, "data": data}))
        return {"ncols": len(self.columns), "nrows": len(self.data)}

    @classmethod
    def read(cls, path: Path) -> Media:
        kept = json.loads(path.read_text())
        rows = [[_cell_read(value, path) for value in row] for row in kept["data"]]
        return Table(columns=kept["columns"], data=rows)


class Chart(Table):
    """A table drawn as a chart (what `forebear.plot`'s functions make; W&B's CustomChart):
    its rows, the kind of chart (`line`, `scatter`, `bar`, `histogram`, `line_series`,
    `confusion_matrix`, `pr_curve`, `roc_curve`), the columns it draws (`fields`, by role),
    and a title. Stored as JSON; the web app draws it."""

    kind = "chart-file"
    suffix = ".chart.json"
    media_cells = False  # a chart draws numbers and text

    def __init__(
        self,
        chart: str,
        table: Table,
        fields: dict[str, str],
        title: str = "",
        xname: str | None = None,
    ) -> None:
        super().__init__(columns=table.columns)
        self.data = [[_cell(value, self) for value in row] for row in table.data]
        for role, column in fields.items():
            if column not in self.columns:
                raise BadInput(
                    f"plot.{chart}: {role}={column!r} is no column of the table "
                    f"({', '.join(self.columns)})"
                )
        self.chart, self.fields, self.title = chart, dict(fields), title or ""
        self.xname = xname  # the x axis's label, when not its column's name

    def write(self, path: Path) -> dict[str, Any]:
        kept: dict[str, Any] = {"chart": self.chart, "title": self.title, "fields": self.fields}
        if self.xname is not None:
            kept["xname"] = self.xname
        path.write_text(json.dumps({**kept, "columns": self.columns, "data": self.data}))
        return {**kept, "ncols": len(self.columns), "nrows": len(self.data)}

    @classmethod
    def read(cls, path: Path) -> Media:
        kept = json.loads(path.read_text())
        table = Table(columns=kept["columns"], data=kept["data"])
        return Chart(kept["chart"], table, kept["fields"], kept["title"], kept.get("xname"))


class Histogram(Media):
    """Counts of values in `num_bins` equal bins between their least and greatest (W&B's
    `wandb.Histogram`), or counts and bin edges already made (`np_histogram`). Non-finite
    values are left out. Stored as JSON."""

    kind = "histogram"
    suffix = ".histogram.json"

    def __init__(
        self,
        sequence: Any = None,
        np_histogram: tuple[Any, Any] | None = None,
        num_bins: int = 64,
    ) -> None:
        if np_histogram is not None:
            counts, edges = (list(_plain(part)) for part in np_histogram)
            if len(edges) != len(counts) + 1:
                raise BadInput("np_histogram: give (counts, edges), one more edge than counts")
            self.values, self.bins = [float(c) for c in counts], [float(e) for e in edges]
            return
        if sequence is None:
            raise BadInput("Histogram: give a sequence of values or np_histogram")
        if not 1 <= num_bins <= 512:
            raise BadInput(f"num_bins={num_bins}: 1 to 512 bins")
        numbers = [float(v) for v in _flat(_plain(sequence)) if math.isfinite(float(v))]
        low, high = (min(numbers), max(numbers)) if numbers else (0.0, 0.0)
        width = (high - low) / num_bins or 1.0
        self.bins = [low + i * width for i in range(num_bins + 1)]
        self.values = [0.0] * num_bins
        for v in numbers:
            self.values[min(int((v - low) / width), num_bins - 1)] += 1

    def write(self, path: Path) -> dict[str, Any]:
        path.write_text(json.dumps({"bins": self.bins, "values": self.values}))
        return {"bins": len(self.values)}

    @classmethod
    def read(cls, path: Path) -> Media:
        kept = json.loads(path.read_text())
        return Histogram(np_histogram=(kept["values"], kept["bins"]))


# What `Artifact.get` reads back, in the order a name is looked for (a .gif is an image).
KEPT_MEDIA: tuple[type[Media], ...] = (Table, Chart, Histogram, Html, Image, Audio, Video)
# The media a table's cell may hold, by the `_type` its cell is kept as.
CELL_MEDIA: dict[str, type[Media]] = {kind.kind: kind for kind in (Image, Audio, Video, Html)}


class MediaLog:
    """A run's media files, written as they are logged into a directory of their own
    (removed with this object), and each key's last one for the summary."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.last: dict[str, Any] = {}

    def add(self, key: str, step: int, value: Media | Sequence[Media]) -> None:
        from forebear._artifact import _clean_path

        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="forebear-media-"))
            weakref.finalize(self, shutil.rmtree, str(self.root), True)
        folder = self.root / _clean_path(key)
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(value, Media):
            self.last[key] = self._write(value, folder, f"{step}")
        else:
            self.last[key] = [
                self._write(one, folder, f"{step}_{i}") for i, one in enumerate(value)
            ]

    def summary(self, artifact: str) -> dict[str, Any]:
        """Each key's last file (or files, for a list), in the artifact they were logged in."""
        return {
            key: [{**one, "artifact": artifact} for one in said]
            if isinstance(said, list)
            else {**said, "artifact": artifact}
            for key, said in self.last.items()
        }

    def _write(self, value: Media, folder: Path, stem: str) -> dict[str, Any]:
        path = folder / f"{stem}{value.suffix}"
        said = value.write(path)
        assert self.root is not None
        return {"_type": value.kind, "path": path.relative_to(self.root).as_posix(), **said}


def media_of(value: Any) -> Media | list[Media] | None:
    """`value` as media to log (one, or a list of them), or None for anything else. A list of
    numbers, or an array of more than one, is logged as its Histogram (W&B's
    `run.log({"losses": [0.1, 0.2]})`)."""
    if isinstance(value, Media):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Media) for v in value):
        return list(value)
    if isinstance(value, (list, tuple)) and value and all(_is_number(v) for v in value):
        return Histogram(value)
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) >= 1 and math.prod(shape) > 1:  # NumPy's, torch's
        return Histogram(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, (bool, complex))


def cells_entry(table: str) -> str:
    """Where a table file's media cells are kept: the folder beside it, named as it is
    without .json (`preds.table.json`: `preds.table`)."""
    return table[: -len(".json")]


def cells_folder(table: Path) -> Path:
    return table.with_name(cells_entry(table.name))


def cell_files(entry: str, paths: Iterable[str]) -> list[str]:
    """Of an artifact's `paths`, the media cells of its table file `entry` (none for a file
    of another kind)."""
    if not entry.endswith(Table.suffix):
        return []
    folder = cells_entry(entry) + "/"
    return [path for path in paths if path.startswith(folder)]


def _cell(value: Any, table: Table) -> Any:
    """A cell's value as `table` keeps it: media as it is, anything else as JSON."""
    if table.media_cells and isinstance(value, tuple(CELL_MEDIA.values())):
        return value
    if isinstance(value, Media):
        kind = type(value).__name__
        held = f"{'an' if kind[0] in 'AEIOU' else 'a'} {kind}"
        if table.media_cells:
            raise BadInput(
                f"{held} in a table's cell: a cell holds numbers, text, an Image, Audio, "
                f"Video or Html; log the {kind} under a key of its own"
            )
        raise BadInput(f"{held} in a chart's cell: a chart draws numbers and text")
    return jsonable(_plain(value))


def _cell_read(value: Any, table: Path) -> Any:
    """A cell of the table file `table` as `Table.read` gives it back: a media cell as its
    media, read from its file in the table's cells folder (a path leading anywhere else is
    not read), anything else as it is."""
    kind = CELL_MEDIA.get(value.get("_type", "")) if isinstance(value, dict) else None
    path = value.get("path") if kind is not None else None
    folder, _, name = path.partition("/") if isinstance(path, str) else ("", "", "")
    if kind is None or folder != cells_entry(table.name) or ".." in name.split("/"):
        return value
    file = table.parent / folder / name
    if not file.is_file():
        return value  # the cell's file was not fetched: its description stays
    media = kind.read(file)
    if isinstance(media, _FileMedia):
        media.caption = value.get("caption")
    return media


def _plain(values: Any) -> Any:
    """An array (NumPy's, torch's) as nested lists; anything else as it is."""
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    return values.tolist() if hasattr(values, "tolist") else values


def _flat(values: Any) -> list[Any]:
    if isinstance(values, (list, tuple)):
        return [v for item in values for v in _flat(item)]
    return [values]


def _depth(values: Any) -> int:
    """How deeply lists nest at their first item (a 3-D array: 3)."""
    depth = 0
    while isinstance(values, list) and values:
        depth, values = depth + 1, values[0]
    return depth


Rows = list[list[list[Any]]]  # height x width x channels


def _pixel_rows(data: Any, channels_first: bool, what: str) -> Rows:
    """An array of pixels as rows of pixels, each a list of its 1, 3 or 4 channels."""
    rows = _plain(data)
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], list):
        raise BadInput(
            f"{what}: give a file's path, a PIL image or an array of pixels (height x width, "
            "with 1, 3 or 4 channels)"
        )
    if channels_first and isinstance(rows[0][0], list) and len(rows) in (1, 3, 4):
        rows = [[list(px) for px in zip(*lines)] for lines in zip(*rows)]
    if not isinstance(rows[0][0], list):
        rows = [[[v] for v in row] for row in rows]  # grey, one channel
    height, width, channels = len(rows), len(rows[0]), len(rows[0][0])
    if channels not in (1, 3, 4) or any(len(row) != width for row in rows):
        raise BadInput(f"{what}: {height} rows of pixels with {channels} channels: use 1, 3 or 4")
    return rows


def _scanlines(rows: Rows, normalize: bool) -> bytes:
    """Rows of pixels as PNG's filtered scanlines (filter 0), 8 bits a channel."""
    values = [v for row in rows for px in row for v in px]
    floats = any(isinstance(v, float) for v in values)  # an integer array is 0-255 as it is
    scale = 255.0 if normalize and floats and min(values) >= 0.0 and max(values) <= 1.0 else 1.0
    pixels = bytes(min(255, max(0, round(float(v) * scale))) for v in values)
    stride = len(rows[0]) * len(rows[0][0])
    return b"".join(b"\0" + pixels[y * stride : (y + 1) * stride] for y in range(len(rows)))


def _png(frames: list[bytes], rows: Rows, fps: int | None = None) -> bytes:
    """A PNG of one frame's scanlines; of several, an animated PNG at `fps` frames a second
    (the first frame is also the still image)."""
    height, width, channels = len(rows), len(rows[0]), len(rows[0][0])
    header = struct.pack(">IIBBBBB", width, height, 8, {1: 0, 3: 2, 4: 6}[channels], 0, 0, 0)
    chunks = [(b"IHDR", header)]
    if fps is None:
        chunks.append((b"IDAT", zlib.compress(frames[0])))
    else:
        chunks.append((b"acTL", struct.pack(">II", len(frames), 0)))  # played forever
        sequence = 0
        for i, frame in enumerate(frames):
            control = struct.pack(">IIIIIHHBB", sequence, width, height, 0, 0, 1, fps, 0, 0)
            chunks.append((b"fcTL", control))
            data = zlib.compress(frame)
            if i == 0:
                chunks.append((b"IDAT", data))
                sequence += 1
            else:
                chunks.append((b"fdAT", struct.pack(">I", sequence + 1) + data))
                sequence += 2
    chunks.append((b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(_chunk(tag, body) for tag, body in chunks)


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


# JPEG's start-of-frame markers (which carry the size): C0-CF but for C4, C8 and CC
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _image_size(path: Path) -> tuple[int, int] | None:
    """An image file's width and height, read from its header (PNG, GIF, BMP, JPEG); None
    when it does not say."""
    with open(path, "rb") as f:
        head = f.read(26)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return width, height
        if head[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", head[6:10])
            return width, height
        if head[:2] == b"BM" and len(head) == 26:
            width, height = struct.unpack("<ii", head[18:26])
            return width, abs(height)  # a negative height: rows top to bottom
        if head[:2] != b"\xff\xd8":
            return None
        f.seek(2)
        while True:  # JPEG: segment after segment up to the frame's
            marker = f.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            if marker[1] == 0xFF:  # fill byte
                f.seek(-1, os.SEEK_CUR)
                continue
            if 0xD0 <= marker[1] <= 0xD7 or marker[1] == 0x01:  # no length
                continue
            length = f.read(2)
            if len(length) < 2:
                return None
            if marker[1] in JPEG_FRAMES:
                sizes = f.read(5)
                if len(sizes) < 5:
                    return None
                height, width = struct.unpack(">HH", sizes[1:])
                return width, height
            f.seek(struct.unpack(">H", length)[0] - 2, os.SEEK_CUR)


def _wav_of(data: Any, sample_rate: int) -> tuple[bytes, int]:
    """An array of samples as a 16-bit WAV file's bytes, with its number of frames."""
    samples = _plain(data)
    depth = _depth(samples)
    if depth not in (1, 2):
        raise BadInput("Audio: give an array of samples (samples, or samples x channels)")
    frames = samples if depth == 2 else [[v] for v in samples]
    channels = len(frames[0])
    if not 1 <= channels <= 16 or any(len(frame) != channels for frame in frames):
        raise BadInput(f"Audio: frames of {channels} channels: give 1 to 16, the same in each")
    values = [float(v) for frame in frames for v in frame]
    scale = 32767.0 if any(isinstance(v, float) for frame in frames for v in frame) else 1.0
    pcm = array.array(
        "h", (max(-32768, min(32767, round(v * scale))) if math.isfinite(v) else 0 for v in values)
    )
    if sys.byteorder == "big":  # WAV is little-endian
        pcm.byteswap()
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(channels)
        sound.setsampwidth(2)
        sound.setframerate(sample_rate)
        sound.writeframes(pcm.tobytes())
    return out.getvalue(), len(frames)
