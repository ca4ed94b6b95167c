"""The SDK's errors: one tree, each message saying what to do.

ForebearError
├── AuthError         no key, or the server refused it (UNAUTHENTICATED)
├── Refused           the key lacks a role (FORBIDDEN): the message names who grants it
├── NotFound          no such project, version, collection... (NOT_FOUND)
├── Conflict          the change clashes with the current state (CONFLICT)
├── BadInput          the server refused an argument (BAD_INPUT): names the field
├── ServerError       the server failed or is unavailable (INTERNAL, UNAVAILABLE, 5xx)
├── TransportError    the server could not be reached: names the URL
└── IntegrityError    downloaded or local files differ from their manifest
"""

from __future__ import annotations

from typing import Any


class ForebearError(Exception):
    """Anything the SDK reports; `code` is the server's error code when it sent one.
    `dependents` counts what depends on the target of a destructive change the server
    refused until it is confirmed."""

    code: str | None = None

    def __init__(
        self, message: str, *, field: str | None = None, dependents: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.dependents = dependents


class AuthError(ForebearError):
    code = "UNAUTHENTICATED"


class Refused(ForebearError):
    code = "FORBIDDEN"


class NotFound(ForebearError):
    code = "NOT_FOUND"


class Conflict(ForebearError):
    code = "CONFLICT"


class BadInput(ForebearError):
    code = "BAD_INPUT"


class ServerError(ForebearError):
    code = "INTERNAL"


class TransportError(ForebearError):
    pass


class IntegrityError(ForebearError):
    """Files that are missing, changed or extra against a version's manifest."""

    def __init__(
        self, message: str, *, missing: list[str], changed: list[str], extra: list[str]
    ) -> None:
        super().__init__(message)
        self.missing, self.changed, self.extra = missing, changed, extra


BY_CODE: dict[str, type[ForebearError]] = {
    "UNAUTHENTICATED": AuthError,
    "FORBIDDEN": Refused,
    "NOT_FOUND": NotFound,
    "CONFLICT": Conflict,
    "BAD_INPUT": BadInput,
    "INTERNAL": ServerError,
    "UNAVAILABLE": ServerError,
}
