"""Reads kept per process for as long as nothing changed.

Every change writes an audit event in its own transaction and moves the audit head, whose hash
names the last event (graph.events). A result read while the head was at one event is current
for as long as the head stays there, so a cached read costs one small query that says whether
the head moved, and answers afresh in the same round trip when it did. Hashes, not sequence
numbers, name the head: a graph wiped or restored from a backup starts numbering again.
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
        """The kept result of `key` and the head it was read at, if one is kept. The caller
        holds on to it: another request may replace or evict the entry meanwhile."""
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def reuse(self, kept: tuple[str, object]) -> object:
        """A kept result found current (its head is still the head)."""
        self.hits += 1
        return kept[1]

    def keep(self, key: Hashable, head: str, value: object) -> None:
        self.misses += 1
        self.entries[key] = (head, value)
        self.entries.move_to_end(key)
        while len(self.entries) > ENTRIES:
            self.entries.popitem(last=False)
