"""Changes imported from another registry's history keep their original time and actor; this
says which change is being imported, for the events and stamps it writes."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Imported:
    """A change brought from another registry's history (a GTO tag, an MLflow transition):
    the events it writes carry its original `time` (and the caller passes its original actor),
    record where it came from in `after.imported`, and its `key`, unique among events, makes
    importing it twice a no-op (a constraint refuses the second)."""

    source: str
    key: str
    time: datetime
    by: str  # who imported it


IMPORTING: ContextVar[Imported | None] = ContextVar("forebear_importing", default=None)


def clock() -> datetime:
    """Now, or the original time of the change being imported (graph.events.IMPORTING): what
    a change stamps its assignments and links with, so `asOf` answers as things were then."""
    imported = IMPORTING.get()
    return imported.time if imported is not None else datetime.now(UTC)
