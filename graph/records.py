"""Plain, frozen values that repositories return: never driver records or neo4j.time values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the Neo4j server says of itself."""

    neo4j_version: str
    neo4j_edition: str
    database: str
