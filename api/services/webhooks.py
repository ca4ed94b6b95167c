"""Webhook delivery: the worker every API process runs, and what it sends.

Each change's transaction writes an outbox row when an automation hears its event
(graph.events.EVENT_CLAUSE). Workers in any replica take the rows' deliveries as they have room
to send, and claim due retries, under a lease (graph.repository.automations); they send them
signed as the Standard Webhooks specification says (`webhook-id`, `webhook-timestamp`,
`webhook-signature`, with the `standardwebhooks` library), and write each attempt's outcome
only while their claim holds. A failed attempt is retried
with exponential backoff and jitter until FOREBEAR_WEBHOOK_RETRY_FOR has passed. Mutations
never wait for a receiver: once one that set off automations is sealed, or a delivery is
made due again, the local worker is woken.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import logging
import os
import random
import secrets
import socket
import string
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import httpcore
import httpx
from cachetools import LRUCache
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from neo4j import AsyncDriver
from neo4j.exceptions import Neo4jError
from standardwebhooks.webhooks import Webhook

from api.settings import Settings
from graph.automations import ended_status, triggers_of
from graph.errors import GraphError
from graph.ids import kind_of
from graph.records import Automation
from graph.repository.artifacts import ArtifactRepository
from graph.repository.automations import Attempt, AutomationRepository, Claimed, Outcome
from graph.repository.base import woken_by_deliveries
from graph.repository.registries import RegistryRepository

log = logging.getLogger("forebear.webhooks")

EXCERPT: Final = 1024  # bytes of a receiver's answer kept in the delivery log
MAX_BACKOFF: Final = 3600.0
USER_AGENT: Final = "Forebear-Webhooks/0.1"
RESOLVE_TIMEOUT: Final = 5.0  # seconds a webhook host has to resolve
# A claim outlasts a send (FOREBEAR_WEBHOOK_TIMEOUT) by this many seconds, room to build the
# payload and write the outcome; a worker that died holding it is taken over after that.
LEASE_SLACK: Final = 10.0
KEPT_MESSAGES: Final = 256  # events whose built message a worker keeps
RECORD_BATCH: Final = 500  # outcomes written in one transaction at most
PRUNE_BATCH: Final = 5_000  # settled deliveries deleted in one transaction at most
PRUNE_EVERY: Final = 600.0  # seconds between looks for settled deliveries past keeping


# --- secrets --------------------------------------------------------------------------------


class SecretBox:
    """Webhook secrets and tokens encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256)
    under a key derived from FOREBEAR_SECRET_KEY; changing that key voids stored secrets."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.get_secret_value().encode()
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"forebear webhook secrets"
        ).derive(secret)
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "a stored webhook secret cannot be decrypted: FOREBEAR_SECRET_KEY changed since "
                "it was made; rotate the automation's secret"
            ) from exc


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# --- where a webhook may go -----------------------------------------------------------------


class RefusedUrl(ValueError):
    """A webhook URL Forebear will not call; the message says why and what to do."""


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def check_url(url: str, allow_private: bool) -> str:
    """`url` when a webhook may be sent there: http(s), a host, and (unless the operator
    allows it) only public addresses, checked on every address the host resolves to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedUrl(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise RefusedUrl("put credentials in the webhook's token, not in its URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedUrl(f"{url!r} has a port that is not a number") from exc
    if not allow_private:
        await public_addresses(parts.hostname, port)
    return url


async def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, when every one is public; else RefusedUrl."""
    try:
        found = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
            RESOLVE_TIMEOUT,
        )
    except (OSError, TimeoutError) as exc:
        raise RefusedUrl(
            f"the webhook host {host!r} does not resolve ({exc or 'timed out'})"
        ) from exc
    addresses = list(dict.fromkeys(str(address[0]) for *_, address in found))
    for address in addresses:
        if _refused_address(address):
            raise RefusedUrl(
                f"{host!r} resolves to {address}, a loopback, private, link-local or "
                "metadata address: webhooks go to public addresses unless the operator sets "
                "FOREBEAR_WEBHOOK_ALLOW_PRIVATE=true"
            )
    return addresses


class PublicOnly(httpcore.AsyncNetworkBackend):
    """Connects webhooks only to the public addresses their host resolves to, resolved and
    checked here, at connect time: the address checked is the address connected to, so a DNS
    answer that changes between a check and the connection (rebinding) cannot reach an
    internal address. TLS still verifies the certificate against the URL's host name."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failed: Exception | None = None
        for address in await public_addresses(host, port):
            try:
                return await self._backend.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc
        assert failed is not None
        raise failed

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


# --- what is sent ---------------------------------------------------------------------------

# Variables a payload template may use, as ${name}; each is replaced by its value escaped for
# a JSON string (empty when the event has none), so a template stays valid JSON.
VARIABLES: Final[Mapping[str, str]] = {
    "event_type": "the audit event's type, such as alias.set",
    "event_id": "the audit event's id",
    "event_author": "who made the change",
    "event_time": "when, in ISO 8601",
    "trigger": "the first trigger the event set off, such as ALIAS_SET",
    "registry": "the registry's name",
    "collection": "the collection's name",
    "linked_version": "registry/collection:vN",
    "alias": "the alias that moved",
    "stage": "the stage assigned or unassigned",
    "artifact_version": "project/artifact:vN",
    "artifact_version_id": "the artifact version's id",
    "project": "the artifact version's project",
    "run": "the producing run's name (or the run that raised an alert, or ended)",
    "alert_title": "a run's alert: its title",
    "alert_text": "a run's alert: its text",
    "alert_level": "a run's alert: INFO, WARN or ERROR",
    "run_status": "an ended run's status: FINISHED, FAILED or CRASHED",
    "automation": "the automation's name",
}


def render(template: str, values: Mapping[str, Any]) -> str:
    """The template with each ${variable} replaced (escaped for a JSON string)."""
    escaped = {
        name: json.dumps("" if values.get(name) is None else str(values[name]))[1:-1]
        for name in VARIABLES
    }
    return string.Template(template).substitute(escaped)


def check_template(template: str) -> None:
    """Raise ValueError naming what is wrong when `template` cannot make a JSON payload."""
    try:
        names = string.Template(template).get_identifiers()
    except ValueError as exc:
        raise ValueError(f"the template has a malformed placeholder ({exc})") from exc
    unknown = sorted(set(names) - set(VARIABLES))
    if unknown or not string.Template(template).is_valid():
        raise ValueError(
            f"the template uses {', '.join('${' + n + '}' for n in unknown) or 'a bad $'}; "
            f"it may use {', '.join('${' + n + '}' for n in VARIABLES)} ($$ for a dollar)"
        )
    try:
        json.loads(render(template, dict.fromkeys(VARIABLES, "x")))
    except ValueError as exc:
        raise ValueError(f"the template is not JSON once filled in ({exc})") from exc


@dataclass(frozen=True, slots=True)
class Message:
    """One webhook: the body and the values a template could use."""

    body: dict[str, Any]
    values: dict[str, Any]


def addressed(message: Message, automation: Automation) -> Message:
    """An event's message as one automation is sent it: it names the automation, and only a
    project's automation (whose admins are its members) is told of the producing run; a
    registry's viewers may not read runs of the projects its versions came from."""
    private = automation.scope_kind != "project"
    data = {
        **message.body["data"],
        "automation": {"id": automation.id, "name": automation.name},
        **({"run": None} if private else {}),
    }
    values = {**message.values, "automation": automation.name, **({"run": None} if private else {})}
    return Message({**message.body, "data": data}, values)


async def event_message(driver: AsyncDriver, database: str, event: Mapping[str, Any]) -> Message:
    """The documented JSON event: type, actor, time, registry, collection, linked version with
    its aliases and stages, artifact version and producing run, as they stand now (the
    automation is named by `addressed`)."""
    subjects: list[str] = list(event.get("subjects") or [])
    by_kind: dict[str, str] = {}
    for subject in subjects:
        kind = kind_of(subject)
        if kind is not None:
            by_kind.setdefault(kind, subject)
    before = json.loads(event.get("before") or "{}")
    after = json.loads(event.get("after") or "{}")
    registries = RegistryRepository(driver, database)
    linked: dict[str, Any] | None = None
    version_id = by_kind.get("ArtifactVersion")
    collection_id = by_kind.get("Collection")
    if link_id := by_kind.get("LinkedVersion"):
        link, collection, registry = await registries.link_context(link_id)
        collection_id, version_id = collection.id, link.version_id
        linked = {
            "id": link.id,
            "ref": f"{registry.name}/{collection.name}:v{link.index}",
            "index": link.index,
            "semver": link.semver,
            "state": link.state,
            "aliases": list(link.aliases),
            "stages": list(link.stages),
        }
    version = None
    if version_id is not None:
        version = (await ArtifactRepository(driver, database).get_versions([version_id])).get(
            version_id
        )
    run_id = by_kind.get("Run") or (version.run_id if version else None)
    names = await AutomationRepository(driver, database).names(
        collection_id, event.get("registry"), run_id
    )
    alert = after if event["type"] == "run.alert" else None
    triggers, aliases = triggers_of(str(event["type"]), after)
    when = event["time"]
    data = {
        "event": {
            "id": event["id"],
            "seq": event["seq"],
            "type": event["type"],
            "actor": event["actor"],
            "time": when.isoformat(),
        },
        "triggers": triggers,
        "automation": None,
        "registry": names["registry"],
        "collection": names["collection"],
        "linkedVersion": linked,
        "alias": aliases[0] if aliases else None,
        "stage": after.get("stage"),
        "version": None
        if version is None
        else {
            "id": version.id,
            "ref": version.name,
            "type": version.type,
            "digest": version.digest,
            "aliases": list(version.aliases),
        },
        "run": None if run_id is None else {"id": run_id, "name": names["run_name"]},
        "project": version.project if version else names["run_project"],
        "alert": alert,
        "before": before,
        "after": after,
    }
    values = {
        "event_type": event["type"],
        "event_id": event["id"],
        "event_author": event["actor"],
        "event_time": when.isoformat(),
        "trigger": triggers[0] if triggers else None,
        "registry": names["registry"],
        "collection": names["collection"],
        "linked_version": linked["ref"] if linked else None,
        "alias": data["alias"],
        "stage": data["stage"],
        "artifact_version": version.name if version else None,
        "artifact_version_id": version.id if version else None,
        "project": data["project"],
        "run": names["run_name"],
        "alert_title": alert["title"] if alert else None,
        "alert_text": alert["text"] if alert else None,
        "alert_level": alert["level"] if alert else None,
        "run_status": ended_status(str(event["type"]), after),
        "automation": None,
    }
    return Message({"type": event["type"], "timestamp": when.isoformat(), "data": data}, values)


def test_message(automation: Automation, actor: str) -> Message:
    """What `testAutomation` sends: the shape of a real event, marked as a test."""
    now = datetime.now(UTC).isoformat()
    data = {
        "event": {"id": None, "seq": None, "type": "automation.test", "actor": actor, "time": now},
        "triggers": list(automation.events),
        "automation": {"id": automation.id, "name": automation.name},
        "test": True,
    }
    values = {name: f"<{name}>" for name in VARIABLES} | {
        "event_type": "automation.test",
        "event_author": actor,
        "event_time": now,
        "automation": automation.name,
    }
    return Message({"type": "automation.test", "timestamp": now, "data": data}, values)


# --- sending --------------------------------------------------------------------------------


def backoff(attempt: int) -> float:
    """Seconds before retry `attempt` (1-based): doubling from 1 s, at most an hour, with
    jitter so receivers coming back up are not hit by every sender at once."""
    return float(min(MAX_BACKOFF, 2.0 ** (attempt - 1)) * (0.5 + random.random() / 2))


class Sender:
    """Signs and posts webhooks for one process (one HTTP connection pool)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.box = SecretBox(settings)
        transport = httpx.AsyncHTTPTransport(trust_env=False)
        if not settings.webhook_allow_private:
            # httpx has no public hook for how it connects; its pool is httpcore's, which
            # takes a network backend.
            transport._pool = httpcore.AsyncConnectionPool(
                ssl_context=httpx.create_ssl_context(trust_env=False),
                network_backend=PublicOnly(),
            )
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            timeout=httpx.Timeout(settings.webhook_timeout),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,  # a proxy from the environment must not carry webhooks elsewhere
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send(
        self, automation: Automation, msg_id: str, message: Message
    ) -> tuple[Attempt, bool]:
        """Post one message; the attempt as the delivery log keeps it, and whether it failed
        for good (an address refused does not become allowed by waiting). Never raises."""
        at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            # The address is checked when the connection is made (PublicOnly).
            await check_url(automation.url, allow_private=True)
            if automation.template:
                body = render(automation.template, message.values)
            else:
                body = json.dumps(message.body, separators=(",", ":"), default=str)
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": Webhook(self.box.open(automation.secret)).sign(
                    msg_id, at, body
                ),
            }
            if automation.token:
                headers["authorization"] = f"Bearer {self.box.open(automation.token)}"
            async with self._client.stream(
                "POST", automation.url, content=body.encode(), headers=headers
            ) as response:
                excerpt = b""
                async for chunk in response.aiter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT:
                        break
            return Attempt(
                at,
                response.status_code,
                (time.perf_counter() - started) * 1000,
                excerpt[:EXCERPT].decode("utf-8", "replace"),
                None,
            ), False
        except RefusedUrl as exc:
            return Attempt(at, None, (time.perf_counter() - started) * 1000, "", str(exc)), True
        except (httpx.HTTPError, OSError, ValueError) as exc:
            error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            elapsed = (time.perf_counter() - started) * 1000
            return Attempt(at, None, elapsed, "", error[:500]), False


def settle(claimed: Claimed, attempt: Attempt, permanent: bool, retry_for: float) -> Outcome:
    """Where this attempt leaves the delivery, and when it is tried again."""
    if attempt.status_code is not None and 200 <= attempt.status_code < 300:
        return Outcome(claimed, attempt, "DELIVERED", None)
    if permanent:
        return Outcome(claimed, attempt, "FAILED", None)
    retry_at = attempt.at + timedelta(seconds=backoff(claimed.delivery.attempt_count + 1))
    if retry_at - claimed.retry_from > timedelta(seconds=retry_for):
        return Outcome(claimed, attempt, "FAILED", None)
    return Outcome(claimed, attempt, "PENDING", retry_at)


class Deliverer:
    """The worker of one process: claims due deliveries and sends them, up to
    FOREBEAR_WEBHOOK_WORKERS at once; woken when this process seals events that set off
    automations or makes a delivery due again, otherwise it looks every FOREBEAR_WEBHOOK_POLL
    seconds for what other replicas queued and for retries that fell due."""

    def __init__(self, driver: AsyncDriver, settings: Settings) -> None:
        self.driver = driver
        self.settings = settings
        self.repo = AutomationRepository(driver, settings.neo4j_database)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # Messages of recent events: one event sets off many automations, claimed together.
        self._messages: LRUCache[str, Message] = LRUCache(maxsize=KEPT_MESSAGES)

    async def run(self) -> None:
        with woken_by_deliveries() as wake:
            await self._run(wake)

    async def _run(self, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        sender = Sender(self.settings)
        running: set[asyncio.Task[None]] = set()
        outcomes: asyncio.Queue[tuple[Outcome, asyncio.Future[None]]] = asyncio.Queue()
        recorder = asyncio.create_task(self._record(outcomes))

        # Whether a claim may find due deliveries: slots came free, the last claim was full,
        # the poll is due (retries falling due, leases of dead workers running out), or the
        # loop was woken: a seal of events that set off automations (their outbox rows wait),
        # or a redelivery. A change that set off nothing wakes it not at all, and while every
        # slot is taken nothing is read at all.
        worth_claiming = True
        next_poll = next_prune = loop.time()
        failures = 0
        keep = self.settings.webhook_keep

        def finished(task: asyncio.Task[None]) -> None:
            nonlocal worth_claiming
            running.discard(task)
            # Claims are made in batches: once half the slots are free, not for every one.
            if len(running) <= self.settings.webhook_workers // 2:
                worth_claiming = True
                wake.set()

        try:
            while True:
                wake.clear()
                if loop.time() >= next_poll:
                    worth_claiming, next_poll = True, loop.time() + self.settings.webhook_poll
                free = self.settings.webhook_workers - len(running)
                claimed: list[Claimed] = []
                try:
                    waiting = free > 0 and await self.repo.outbox_waiting()
                    if free > 0 and (worth_claiming or waiting):
                        claimed = await self._claim(free, outbox=waiting)
                        worth_claiming = len(claimed) == free
                    if keep > 0 and loop.time() >= next_prune:
                        # The log keeps settled deliveries FOREBEAR_WEBHOOK_KEEP seconds.
                        before = datetime.now(UTC) - timedelta(seconds=keep)
                        pruned = await self.repo.prune(before, PRUNE_BATCH)
                        if pruned < PRUNE_BATCH:
                            next_prune = loop.time() + min(PRUNE_EVERY, keep / 2)
                    failures = 0
                except (GraphError, Neo4jError) as exc:
                    # Neo4j is away: look again later, less often the longer it stays away.
                    failures += 1
                    log.warning("could not claim webhook deliveries: %s", exc)
                    await asyncio.sleep(min(30.0, self.settings.webhook_poll * 2**failures))
                    continue
                for item in claimed:
                    task = asyncio.create_task(self._deliver(sender, item, outcomes))
                    running.add(task)
                    task.add_done_callback(finished)
                    # Started one at a time: the requests the API is serving meanwhile wait
                    # for one delivery's first step, not for a whole batch's.
                    await asyncio.sleep(0)
                if (worth_claiming or waiting) and len(running) < self.settings.webhook_workers:
                    continue  # more may be waiting: look again at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), max(0.0, next_poll - loop.time()))
                    worth_claiming = True  # woken: something is due now
        finally:
            for task in (*running, recorder):
                task.cancel()
            await sender.close()

    async def _claim(self, limit: int, *, outbox: bool) -> list[Claimed]:
        now = datetime.now(UTC)
        # The lease outlasts a send (its timeout) with room for the outcome to be written.
        lease = timedelta(seconds=self.settings.webhook_timeout + LEASE_SLACK)
        return await self.repo.claim(
            self.owner, now=now, lease_until=now + lease, limit=limit, outbox=outbox
        )

    async def _message(self, event: Mapping[str, Any]) -> Message:
        """An event's message, built once for all the automations it set off."""
        event_id = str(event["id"])
        found = self._messages.get(event_id)
        if found is None:
            found = await event_message(self.driver, self.settings.neo4j_database, event)
            self._messages[event_id] = found
        return found

    async def _deliver(
        self,
        sender: Sender,
        claimed: Claimed,
        outcomes: asyncio.Queue[tuple[Outcome, asyncio.Future[None]]],
    ) -> None:
        try:
            if claimed.event is None:
                message = test_message(claimed.automation, "system")
            else:
                message = addressed(await self._message(claimed.event), claimed.automation)
            attempt, permanent = await sender.send(claimed.automation, claimed.delivery.id, message)
            settled = settle(claimed, attempt, permanent, self.settings.webhook_retry_for)
            # The slot stays taken until the outcome is written: a delivery sent but not yet
            # recorded still holds its lease, and must not crowd the next claims.
            written = asyncio.get_running_loop().create_future()
            outcomes.put_nowait((settled, written))
            await written
        except Exception:  # one delivery's failure must not stop the worker; it is retried
            log.exception("webhook delivery %s failed", claimed.delivery.id)

    async def _record(self, outcomes: asyncio.Queue[tuple[Outcome, asyncio.Future[None]]]) -> None:
        """Write outcomes as they come, all those waiting in one transaction (each commit is
        a disk flush: one per delivery would bound how many a second go out)."""
        while True:
            batch = [await outcomes.get()]
            while not outcomes.empty() and len(batch) < RECORD_BATCH:
                batch.append(outcomes.get_nowait())
            try:
                written = await self.repo.record(self.owner, [o for o, _ in batch])
            except (GraphError, Neo4jError) as exc:  # their leases end; they are sent again
                log.warning("could not record %d webhook outcomes: %s", len(batch), exc)
                written = set()
            except Exception:  # the recorder must outlive any one batch: its slots wait on it
                log.exception("could not record %d webhook outcomes", len(batch))
                written = set()
            for settled, done in batch:
                if settled.claimed.delivery.id not in written:
                    log.info(
                        "delivery %s: its outcome was not written", settled.claimed.delivery.id
                    )
                if not done.done():
                    done.set_result(None)
