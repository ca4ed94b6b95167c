"""Cypher about the server itself."""

from __future__ import annotations

from typing import Final, LiteralString

GET_COMPONENTS: Final[LiteralString] = """
CALL dbms.components() YIELD name, versions, edition
WHERE name = 'Neo4j Kernel'
RETURN versions[0] AS version, edition
"""
