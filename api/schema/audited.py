"""The `@audited` schema directive: what answers a process may keep (api.kept).

A type or field carries it when every change to what it shows writes an audit event (graph.events):
an answer that selects only such fields stays right until the next event, so it is kept and
served again while nothing is committed. Clients see the directive in the schema; api.kept reads
it from there, so what is kept is declared beside what is served, not in a list of its own.
"""

from __future__ import annotations

import strawberry
from strawberry.schema_directive import Location


@strawberry.schema_directive(
    locations=[Location.OBJECT, Location.FIELD_DEFINITION],
    description="Every change to this writes an audit event: answers selecting only such "
    "fields are kept by the server until the next change.",
)
class Audited:
    pass


AUDITED = Audited()
