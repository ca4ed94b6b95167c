"""Relay plumbing: the Node interface, opaque cursors, and generic cursor connections."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import strawberry

from api.errors import BadInput
from api.schema.audited import AUDITED
from graph.records import Page

if TYPE_CHECKING:
    from api.context import Info

T = TypeVar("T")
R = TypeVar("R")

MAX_PAGE_SIZE: Final = 100
DEFAULT_PAGE_SIZE: Final = 20


def selects(info: Info, name: str, depth: int = 3) -> bool:
    """Whether the query asks for a field called `name` within `depth` levels below the
    current one (through connections and fragments), so a resolver can fetch it in the
    same query as its parent. A false positive costs a little data, never a wrong answer."""

    def walk(selections: list[Any], level: int) -> bool:
        return level < depth and any(
            getattr(s, "name", None) == name or walk(getattr(s, "selections", []), level + 1)
            for s in selections
        )

    return any(walk(field.selections, 0) for field in info.selected_fields)


@strawberry.interface(description="An object with a globally unique ID, fetchable by `node`.")
class Node:
    id: strawberry.ID = strawberry.field(
        directives=[AUDITED], description="Opaque, globally unique identifier."
    )


@strawberry.type(directives=[AUDITED], description="Where a page ends, and whether more follow.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when another page follows.")
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to get the next page; null on an empty page."
    )


@strawberry.type(description="One item of a page, with the cursor that points just past it.")
class Edge(Generic[T]):
    node: T = strawberry.field(description="The item.")
    cursor: str = strawberry.field(description="Opaque cursor of this item.")


@strawberry.type(description="A page of items (Relay cursor connection).")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with cursors.")
    nodes: list[T] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")


def encode_cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str | None, field: str = "after") -> str | None:
    """The repository's cursor inside an opaque one; BadInput naming `field` if malformed."""
    if cursor is None:
        return None
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(field, f"{cursor!r} is not a cursor this API gave out") from exc


def page_size(first: int | None, field: str = "first", most: int = MAX_PAGE_SIZE) -> int:
    """`first`, checked against `most` (MAX_PAGE_SIZE unless a list allows more)."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= size <= most:
        raise BadInput(field, f"must be between 1 and {most}, got {size}")
    return size


def connection(
    page: Page[R], convert: Callable[[R], T], cursor_of: Callable[[R], str]
) -> Connection[T]:
    """A Connection from a repository page; each item's cursor is `cursor_of(item)`."""
    cursors = [encode_cursor(cursor_of(item)) for item in page.items]
    nodes = [convert(item) for item in page.items]
    return Connection(
        edges=[Edge(node=n, cursor=c) for n, c in zip(nodes, cursors, strict=True)],
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=page.has_next, end_cursor=cursors[-1] if cursors else None
        ),
    )
