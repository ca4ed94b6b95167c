"""One HTTP client per Api: GraphQL calls and byte transfers, with timeouts and safe retries.

Every mutation is sent with a fresh `Idempotency-Key`, reused by its retries: a call whose
answer was lost (a timeout, a dropped connection) is retried without doing the work twice.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import random
import select
import time
import urllib.parse
import urllib.request
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import httpx

from forebear._errors import BY_CODE, ForebearError, ServerError, TransportError
from forebear._settings import Settings
from forebear._version import __version__

ATTEMPTS = 5
CONNECT_SECONDS, READ_SECONDS = 10.0, 60.0
RETRY_STATUS = (502, 503, 504)
UNREACHABLE = "is the server running, and is FOREBEAR_URL right?"


def backoff(attempt: int) -> float:
    """Seconds before retry `attempt` (1-based): exponential, with jitter, at most 8 s."""
    return float(min(8.0, 0.2 * 2**attempt) * (0.5 + random.random() / 2))


class Client:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.url
        self._key = settings.key()
        self._open: httpx.Client | None = None
        self._closer: weakref.finalize[Any, Any] | None = None
        self.headers = {
            "Authorization": f"Bearer {self._key}",
            "User-Agent": f"forebear-sdk/{__version__}",
        }

    @property
    def _http(self) -> httpx.Client:
        """The connection pool, opened on first use (and again after `close`)."""
        if self._open is None:
            self._open = httpx.Client(
                base_url=self.url,
                headers=self.headers,
                timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS),
                # Plain http has no certificates to check, and redirects are not followed:
                # loading the CA bundle (tens of ms) only pays for an https URL.
                verify=self.url.startswith("https://"),
            )
            # closed with this client, when no one closed it before (a script's Api() left
            # open, a finished run's artifact read again): no socket is left to the collector
            self._closer = weakref.finalize(self, self._open.close)
        return self._open

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        if self._closer is not None:
            self._closer()  # closes the pool, once
            self._closer = self._open = None

    def graphql(
        self, query: str, idempotency_key: str | None = None, **variables: Any
    ) -> dict[str, Any]:
        """The data of one query or mutation; raise the ForebearError its first error names.
        A mutation carries `idempotency_key`, or a fresh one: its retries reuse it."""
        headers = {}
        if query.lstrip().startswith("mutation"):
            headers["Idempotency-Key"] = idempotency_key or uuid.uuid4().hex
        body = {"query": query, "variables": variables}
        for attempt in range(1, ATTEMPTS + 1):
            response = self.request("POST", "/graphql", json=body, headers=headers)
            if response.status_code == 409 and "still running" in response.text:
                time.sleep(backoff(attempt))  # our first try is still at work: wait for it
                continue
            return self._data(response.status_code, response.content)
        raise ServerError(f"{self.url} kept answering that the call is still running")

    def _data(self, status: int, content: bytes) -> dict[str, Any]:
        """The data of a /graphql answer, or the ForebearError its first error names."""
        try:
            answer = json.loads(content)
        except ValueError as exc:
            raise ServerError(
                f"{self.url}/graphql answered {status} without JSON: is FOREBEAR_URL a "
                "Forebear server?"
            ) from exc
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if errors:
            raise error_from(errors[0])
        data: dict[str, Any] = answer["data"]
        return data

    def direct(self) -> Direct | None:
        """Where a connection of the standard library's own may go instead of the pool:
        plain http with no proxy set (any other URL takes the pool, with its proxies and
        certificates)."""
        url = urllib.parse.urlsplit(self.url)
        if url.scheme != "http" or not url.hostname or _proxied():
            return None
        return Direct(url.hostname, url.port or 80, url.path.rstrip("/"))

    @contextlib.contextmanager
    def get_bytes(self, path: str, headers: dict[str, str]) -> Iterator[Body]:
        """A GET whose body is read into the caller's buffers (`Body.readinto`). On plain http
        with no proxy it is a connection of its own: a body read straight from the socket into
        them costs half the CPU of one handed over by the pool in small pieces (a GiB
        downloaded: half a second). Failing to connect or to read raises TransportError."""
        failed = f"downloading {path} from {self.url}"
        direct = self.direct()
        if direct is None:
            try:
                request = self._http.build_request("GET", path, headers=headers)
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                raise TransportError(f"{failed}: {exc}: {UNREACHABLE}") from None
            try:
                yield _PooledBody(response, failed)
            finally:
                response.close()
            return
        try:
            connection = self._sent(direct, "GET", path, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"{failed}: {exc!r}: {UNREACHABLE}") from None
        try:
            try:
                answer = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise TransportError(f"{failed}: {exc!r}: {UNREACHABLE}") from None
            yield _DirectBody(answer, failed)
        finally:
            connection.close()

    def _sent(
        self,
        direct: Direct,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
    ) -> http.client.HTTPConnection:
        """A request written on a connection of its own (see `direct`), its answer not read
        yet; OSError or HTTPException when it could not be sent (the connection closed)."""
        connection = http.client.HTTPConnection(direct.host, direct.port, timeout=CONNECT_SECONDS)
        try:
            connection.request(
                method, direct.path + path, body=body, headers={**self.headers, **headers}
            )
        except BaseException:
            connection.close()
            raise
        if connection.sock is not None:
            connection.sock.settimeout(READ_SECONDS)
        return connection

    def ask_ahead(self, query: str, **variables: Any) -> Pending:
        """A read sent now and answered when `result` is asked for, so that local work
        (hashing the files whose latest version it asks for) runs meanwhile, with no thread
        to share the interpreter with."""
        return Pending(self, query, variables)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP request, retried on connection errors and 502-504 (reads, idempotent
        uploads, and mutations under an idempotency key are all safe to repeat)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == ATTEMPTS:
                    raise TransportError(
                        f"cannot reach Forebear at {self.url} ({exc.__class__.__name__}: {exc}): "
                        + UNREACHABLE
                    ) from None  # the message names the cause: no page of httpx frames
            else:
                if response.status_code not in RETRY_STATUS or attempt == ATTEMPTS:
                    return response
            time.sleep(backoff(attempt))
        raise AssertionError("unreachable")


class Pending:
    """A query on a connection of its own (the standard library's http.client), its request
    written at once and its answer read when wanted. Only plain http with no proxy goes this
    way; any other URL, and a connection that fails, asks through the client's pool (with its
    proxies, certificates and retries) instead: at once, or when the answer is wanted."""

    def __init__(self, client: Client, query: str, variables: dict[str, Any]) -> None:
        self._client, self._query, self._variables = client, query, variables
        self._connection: http.client.HTTPConnection | None = None
        self._outcome: tuple[dict[str, Any] | None, ForebearError | None] | None = None
        direct = client.direct()
        if direct is not None:
            body = json.dumps({"query": query, "variables": variables}).encode()
            headers = {"Content-Type": "application/json"}
            # Not sent: the pool will try, and say what is wrong.
            with contextlib.suppress(OSError, http.client.HTTPException):
                self._connection = client._sent(direct, "POST", "/graphql", headers, body)
        if self._connection is None:
            self._settle()

    def done(self) -> bool:
        """Whether the answer is here (reading it then does not wait)."""
        connection = self._connection
        return connection is None or bool(select.select([connection.sock], [], [], 0)[0])

    def exception(self) -> ForebearError | None:
        """The error the answer is (read now, waiting for it if need be), or None."""
        return self._settle()[1]

    def result(self) -> dict[str, Any]:
        """The answer's data (read now, waiting for it if need be), or raise its error."""
        data, failed = self._settle()
        if failed is not None:
            raise failed
        assert data is not None
        return data

    def close(self) -> None:
        """Hang up, the answer unread if it is not read yet."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _settle(self) -> tuple[dict[str, Any] | None, ForebearError | None]:
        if self._outcome is not None:
            return self._outcome
        answer: tuple[int, bytes] | None = None
        if self._connection is not None:
            try:
                response = self._connection.getresponse()
                answer = (response.status, response.read())
            except (OSError, http.client.HTTPException):
                answer = None  # asked again through the pool, which retries
            finally:
                self.close()
        try:
            if answer is not None and answer[0] not in RETRY_STATUS:
                self._outcome = (self._client._data(*answer), None)
            else:
                self._outcome = (self._client.graphql(self._query, **self._variables), None)
        except ForebearError as exc:
            self._outcome = (None, exc)
        return self._outcome


class Direct(NamedTuple):
    """The server's address for a connection of the SDK's own (Client.direct)."""

    host: str
    port: int
    path: str  # the URL's path prefix, without a trailing /


class Body:
    """The answer to Client.get_bytes: its status, and its body read into buffers."""

    status: int

    def readinto(self, buffer: memoryview) -> int:
        """Bytes of the body read into `buffer` (at least one; 0 at its end)."""
        raise NotImplementedError

    def error(self, doing: str) -> ForebearError:
        """The SDK error this answer is (its body read whole)."""
        raise NotImplementedError


class _DirectBody(Body):
    def __init__(self, response: http.client.HTTPResponse, failed: str) -> None:
        self._response, self._failed = response, failed
        self.status = response.status

    def readinto(self, buffer: memoryview) -> int:
        try:
            read = self._response.readinto(buffer)
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"{self._failed}: {exc!r}") from exc
        short = self._response.length
        if not read and buffer and short:  # http.client ends a cut body quietly
            raise TransportError(f"{self._failed}: the connection closed {short} bytes short")
        return read

    def error(self, doing: str) -> ForebearError:
        try:
            body = self._response.read()
        except (OSError, http.client.HTTPException):
            body = b""
        return error_of(self.status, self._response.reason, body, doing)


class _PooledBody(Body):
    def __init__(self, response: httpx.Response, failed: str) -> None:
        self._response, self._failed = response, failed
        self.status = response.status_code
        self._pieces = response.iter_bytes()
        self._left = memoryview(b"")

    def readinto(self, buffer: memoryview) -> int:
        filled = 0
        try:
            while filled < len(buffer):
                if not self._left:
                    piece = next(self._pieces, None)
                    if piece is None:
                        break
                    self._left = memoryview(piece)
                taken = min(len(self._left), len(buffer) - filled)
                buffer[filled : filled + taken] = self._left[:taken]
                self._left = self._left[taken:]
                filled += taken
        except httpx.TransportError as exc:
            raise TransportError(f"{self._failed}: {exc}") from exc
        return filled

    def error(self, doing: str) -> ForebearError:
        try:
            body = self._response.read()
        except httpx.TransportError:
            body = b""
        return error_of(self.status, self._response.reason_phrase, body, doing)


def paged(fetch: Callable[[str | None], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every node of a connection, page after page: `fetch(after)` reads the page after that
    cursor (None: the first), a dict with its `nodes` and `pageInfo`."""
    after = None
    while True:
        page = fetch(after)
        yield from page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


def _proxied() -> bool:
    """Whether the environment may send plain http through a proxy (HTTP_PROXY, ALL_PROXY:
    httpx honours them, and their NO_PROXY, which this does not read)."""
    proxies = urllib.request.getproxies_environment()
    return bool(proxies.get("http") or proxies.get("all"))


def error_from(error: dict[str, Any]) -> ForebearError:
    """The SDK error for one GraphQL error of the server."""
    extensions = error.get("extensions") or {}
    code = str(extensions.get("code") or "INTERNAL")
    message = str(error.get("message") or code)
    if code == "INTERNAL":
        message += " (the server logged the details)"
    if code == "UNAUTHENTICATED":
        message += ": check FOREBEAR_API_KEY, or run `forebear login` with a live key"
    cls = BY_CODE.get(code, ForebearError)
    field: str | None = extensions.get("field")
    return cls(message, field=field, dependents=extensions.get("dependents"))


def http_error(response: httpx.Response, doing: str) -> ForebearError:
    """The SDK error for a failed byte transfer (PUT /blobs, GET /files)."""
    return error_of(response.status_code, response.reason_phrase, response.content, doing)


# What an answer without an error object (a proxy's, say) means, by its status.
_BY_STATUS = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT"}


def error_of(status: int, reason: str, body: bytes, doing: str) -> ForebearError:
    """The SDK error for a byte transfer answered `status` with `body` (an error object)."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = str(
        error.get("code")
        or _BY_STATUS.get(status)
        or ("INTERNAL" if status >= 500 else "BAD_INPUT")
    )
    message = f"{doing}: {error.get('message') or reason} ({status})"
    return BY_CODE.get(code, ForebearError)(message)


def jsonable(value: Any) -> Any:
    """`value` as JSON can hold it: containers walked, NumPy and torch numbers and arrays as
    Python's (`tolist()`), NaN and the infinities by the names the server reads ("NaN",
    "Infinity", "-Infinity"), anything else (a path, an enum, a class) as its text, as W&B
    keeps such config values."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    as_list = getattr(value, "tolist", None)  # NumPy and torch numbers and arrays
    if callable(as_list) and hasattr(value, "shape"):
        return jsonable(as_list())
    return str(value)


NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def read_numbers(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keys as read back: the names `jsonable` gives NaN and the infinities ("NaN",
    "Infinity", "-Infinity": a diverged metric's last value) as the floats they stand for."""
    return {k: NON_FINITE.get(v, v) if isinstance(v, str) else v for k, v in values.items()}
