"""Progress bars on a terminal (rich), nothing otherwise or with FOREBEAR_SILENT=1."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


@contextlib.contextmanager
def bar(description: str, total: int, silent: bool) -> Iterator[Callable[[int], None] | None]:
    """A byte counter to advance (negative to go back), or None when nothing is shown."""
    if silent or total <= 0 or not sys.stderr.isatty():
        yield None
        return
    lock = threading.Lock()  # advanced from upload and download threads
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int) -> None:
            with lock:
                progress.advance(task, n)

        yield advance
