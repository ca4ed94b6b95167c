"""Reads kept per process for as long as nothing was committed.

Every change writes an audit event in its own transaction, so the number of events (with the
audit head's epoch: graph.events.STAMP_CLAUSE) names what is committed. A result read under
one stamp is current for as long as the stamp stays, so a cached read costs one small query
that says whether it moved, and answers afresh in the same round trip when it did. The stamp
is read before the result: a result is never older than the stamp it is filed under.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Final

from cachetools import LRUCache

MAX_BYTES: Final = 32 << 20  # all kept reads of a process together, as estimated by callers


@dataclass(slots=True)
class ReadCache:
    max_bytes: int = MAX_BYTES
    # Results by key with the stamp they were read at and their estimated bytes, the least
    # recently used out first once past max_bytes.
    entries: LRUCache[Hashable, tuple[str, object, int]] = field(init=False)
    hits: int = 0
    misses: int = 0

    def __post_init__(self) -> None:
        self.entries = LRUCache(maxsize=self.max_bytes, getsizeof=lambda entry: entry[2])

    def kept(self, key: Hashable) -> tuple[str, object] | None:
        """The kept result of `key` and the stamp it was read at, if one is kept. The caller
        holds on to it: another request may replace or evict the entry meanwhile."""
        found = self.entries.get(key)
        return (found[0], found[1]) if found is not None else None

    def reuse(self, kept: tuple[str, object]) -> object:
        """A kept result found current (its stamp is still the stamp)."""
        self.hits += 1
        return kept[1]

    def keep(self, key: Hashable, head: str, value: object, size: int) -> None:
        """Keep `value` read at stamp `head`; `size`: its bytes, as the caller estimates them
        (one larger than the whole budget is not kept)."""
        self.misses += 1
        if size <= self.max_bytes:
            self.entries[key] = (head, value, size)
