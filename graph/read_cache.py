"""Reads kept per process for as long as nothing was committed.

Every change writes an audit event in its own transaction, so the number of events (with the
audit head's epoch: graph.events.STAMP_CLAUSE) names what is committed. A result read under
one stamp is current for as long as the stamp stays, so a cached read costs one small query
that says whether it moved, and answers afresh in the same round trip when it did. The stamp
is read before the result: a result is never older than the stamp it is filed under.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Final

ENTRIES: Final = 256


@dataclass(slots=True)
class ReadCache:
    entries: OrderedDict[Hashable, tuple[str, object]] = field(default_factory=OrderedDict)
    hits: int = 0
    misses: int = 0

    def kept(self, key: Hashable) -> tuple[str, object] | None:
        """The kept result of `key` and the stamp it was read at, if one is kept. The caller
        holds on to it: another request may replace or evict the entry meanwhile."""
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def reuse(self, kept: tuple[str, object]) -> object:
        """A kept result found current (its stamp is still the stamp)."""
        self.hits += 1
        return kept[1]

    def keep(self, key: Hashable, head: str, value: object) -> None:
        self.misses += 1
        self.entries[key] = (head, value)
        self.entries.move_to_end(key)
        while len(self.entries) > ENTRIES:
            self.entries.popitem(last=False)
