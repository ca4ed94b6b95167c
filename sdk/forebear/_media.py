"""W&B's media in `run.log`: images, tables and histograms. Each value logged is written as a
file named after its key and step (`val/examples/3_0.png`, `preds/3.table.json`); when the run
ends, the files are logged as the run's own `run-<run id>-media` artifact, and the summary
names each key's last file, as W&B's does."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import struct
import tempfile
import weakref
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from forebear._errors import BadInput

PathLike = Union[str, "os.PathLike[str]"]
# an image file's suffix -> the format the summary names
IMAGE_FILES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".bmp": "bmp"}


class Media:
    """A value `run.log` keeps as a file rather than a number."""

    kind = ""  # the summary's `_type`
    suffix = ""

    def write(self, path: Path) -> dict[str, Any]:
        """Write the file at `path`; what the summary says of it (besides its path)."""
        raise NotImplementedError


class Image(Media):
    """An image (W&B's `wandb.Image`): a file's path, a PIL image, or an array of pixels
    (height x width, or x 1, 3 or 4 channels; a torch tensor channels first) of integers
    0-255 or of floats 0-1, stored as PNG. `mode` and `file_type` are accepted and unused."""

    kind = "image-file"

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        file_type: str | None = None,
        normalize: bool = True,
    ) -> None:
        self.caption = caption
        self.width: int | None = None
        self.height: int | None = None
        self._file: Path | None = None
        if isinstance(data_or_path, (str, os.PathLike)):
            self._file = Path(data_or_path)
            self.suffix = self._file.suffix.lower()
            if self.suffix not in IMAGE_FILES or not self._file.is_file():
                raise BadInput(
                    f"Image({os.fspath(data_or_path)!r}): give a .png, .jpg, .gif or .bmp file "
                    "that exists, a PIL image or an array of pixels"
                )
            return
        self.suffix = ".png"
        if hasattr(data_or_path, "save") and hasattr(data_or_path, "size"):  # a PIL image
            buffer = io.BytesIO()
            data_or_path.save(buffer, format="PNG")
            self._png = buffer.getvalue()
            self.width, self.height = data_or_path.size
            return
        self._png, self.width, self.height = _png_of(data_or_path, normalize)

    def write(self, path: Path) -> dict[str, Any]:
        if self._file is not None:
            shutil.copyfile(self._file, path)
        else:
            path.write_bytes(self._png)
        found: dict[str, Any] = {"format": IMAGE_FILES[self.suffix]}
        if self.width is not None:
            found.update(width=self.width, height=self.height)
        if self.caption is not None:
            found["caption"] = self.caption
        return found


class Table(Media):
    """Rows under named columns (W&B's `wandb.Table`): `columns` and `data` (a list of rows),
    or a pandas `dataframe`; `add_data(*row)` adds a row. Stored as JSON."""

    kind = "table-file"
    suffix = ".table.json"

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
        if len(row) != len(self.columns):
            raise BadInput(
                f"a row of {len(row)} values in a table of {len(self.columns)} columns "
                f"({', '.join(self.columns)})"
            )
        if any(isinstance(cell, Media) for cell in row):
            raise BadInput("a table cell holds an image, table or histogram: log them apart")
        from forebear._run import _jsonable

        self.data.append(_jsonable(list(row)))

    def write(self, path: Path) -> dict[str, Any]:
        path.write_text(json.dumps({"columns": self.columns, "data": self.data}))
        return {"ncols": len(self.columns), "nrows": len(self.data)}


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
    """`value` as media to log (one, or a list of them), or None for anything else."""
    if isinstance(value, Media):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Media) for v in value):
        return list(value)
    return None


def _plain(values: Any) -> Any:
    """An array (NumPy's, torch's) as nested lists; anything else as it is."""
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    return values.tolist() if hasattr(values, "tolist") else values


def _flat(values: Any) -> list[Any]:
    if isinstance(values, (list, tuple)):
        return [v for item in values for v in _flat(item)]
    return [values]


def _png_of(data: Any, normalize: bool) -> tuple[bytes, int, int]:
    """An array of pixels as PNG bytes, with its width and height."""
    channels_first = hasattr(data, "detach")  # torch's images are C x H x W
    rows = _plain(data)
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], list):
        raise BadInput(
            "Image: give a file's path, a PIL image or an array of pixels (height x width, "
            "with 1, 3 or 4 channels)"
        )
    if channels_first and isinstance(rows[0][0], list) and len(rows) in (1, 3, 4):
        rows = [[list(px) for px in zip(*lines)] for lines in zip(*rows)]
    if not isinstance(rows[0][0], list):
        rows = [[[v] for v in row] for row in rows]  # grey, one channel
    height, width, channels = len(rows), len(rows[0]), len(rows[0][0])
    if channels not in (1, 3, 4) or any(len(row) != width for row in rows):
        raise BadInput(f"Image: {height} rows of pixels with {channels} channels: use 1, 3 or 4")
    values = [v for row in rows for px in row for v in px]
    floats = any(isinstance(v, float) for v in values)  # an integer array is 0-255 as it is
    scale = 255.0 if normalize and floats and min(values) >= 0.0 and max(values) <= 1.0 else 1.0
    pixels = bytes(min(255, max(0, round(float(v) * scale))) for v in values)
    stride = width * channels
    raw = b"".join(b"\0" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    color = {1: 0, 3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + b"".join(
        _chunk(tag, body)
        for tag, body in ((b"IHDR", header), (b"IDAT", zlib.compress(raw)), (b"IEND", b""))
    )
    return png, width, height


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
