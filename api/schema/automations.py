"""Automations: webhooks sent when changes in a registry, a collection or a project set off
their triggers; created and managed by the scope's admins, each change audited."""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import Final

import strawberry

from api.context import Info
from api.errors import BadInput
from api.schema.events import Event, history_of
from api.schema.relay import Connection, Node, connection, decode_cursor, page_size
from api.services import webhooks
from graph import records
from graph.automations import alias_regex, heard_by, project_scope
from graph.errors import Forbidden, NotFound
from graph.ids import new_id

NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
ALIAS_PATTERN: Final = re.compile(r"^[a-z0-9*?][a-z0-9_.*?-]{0,63}$")
MAX_TEMPLATE: Final = 16_384
MAX_TOKEN: Final = 4_096


@strawberry.enum(description="What sets an automation off.")
class AutomationTrigger(Enum):
    VERSION_COMMITTED = strawberry.enum_value(
        "VERSION_COMMITTED", description="An artifact version was committed in a project."
    )
    VERSION_DELETED = strawberry.enum_value(
        "VERSION_DELETED", description="An artifact version was deleted (soft)."
    )
    VERSION_LINKED = strawberry.enum_value(
        "VERSION_LINKED", description="A version was linked into a collection."
    )
    ALIAS_SET = strawberry.enum_value(
        "ALIAS_SET", description="An alias was added or moved (also by linking with aliases)."
    )
    ALIAS_REMOVED = strawberry.enum_value("ALIAS_REMOVED", description="An alias was removed.")
    STAGE_ASSIGNED = strawberry.enum_value(
        "STAGE_ASSIGNED", description="A linked version was assigned a stage."
    )
    STAGE_UNASSIGNED = strawberry.enum_value(
        "STAGE_UNASSIGNED", description="A linked version left a stage."
    )
    SEMVER_SET = strawberry.enum_value(
        "SEMVER_SET", description="A linked version was given its semantic version."
    )
    DEREGISTERED = strawberry.enum_value(
        "DEREGISTERED", description="A linked version was deregistered."
    )
    LINK_RESTORED = strawberry.enum_value(
        "LINK_RESTORED", description="A deregistered linked version was restored."
    )
    COLLECTION_DEPRECATED = strawberry.enum_value(
        "COLLECTION_DEPRECATED", description="A collection was deprecated."
    )
    COLLECTION_RESTORED = strawberry.enum_value(
        "COLLECTION_RESTORED", description="A collection's deprecation was undone."
    )
    RUN_FINISHED = strawberry.enum_value(
        "RUN_FINISHED",
        description="A run in the project ended: finished, failed or crashed (OpenLineage too).",
    )
    RUN_ALERT = strawberry.enum_value(
        "RUN_ALERT", description="A run in the project raised an alert (W&B's run.alert)."
    )


@strawberry.enum(description="Where a webhook delivery stands.")
class DeliveryState(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Queued, or waiting for a retry.")
    DELIVERED = strawberry.enum_value("DELIVERED", description="The receiver answered 2xx.")
    FAILED = strawberry.enum_value(
        "FAILED", description="Still failing when its retry window ended (redeliver to retry)."
    )
    CANCELLED = strawberry.enum_value("CANCELLED", description="Its automation was deleted.")


@strawberry.type(description="Where an automation listens.")
class AutomationScope:
    kind: str = strawberry.field(description="registry, collection or project.")
    registry: str | None = strawberry.field(description="The registry's name.")
    collection: str | None = strawberry.field(description="The collection's name.")
    project: str | None = strawberry.field(description="The project's name.")


@strawberry.type(description="One try to deliver a webhook.")
class DeliveryAttempt:
    number: int = strawberry.field(description="1 for the first try.")
    at: datetime = strawberry.field(description="When it was sent.")
    status_code: int | None = strawberry.field(description="The receiver's HTTP status.")
    latency_ms: float = strawberry.field(description="Milliseconds until the answer (or error).")
    response: str = strawberry.field(description="The start of the receiver's answer (1 KiB).")
    error: str | None = strawberry.field(description="Why no answer came (or why it was refused).")


@strawberry.type(description="One event's webhook to one automation, and its attempts.")
class WebhookDelivery(Node):
    event_id: str | None = strawberry.field(description="The audit event (null for a test).")
    event_type: str = strawberry.field(description="Its type; `test` for testAutomation.")
    state: DeliveryState = strawberry.field(description="Where it stands.")
    test: bool = strawberry.field(description="Sent by testAutomation.")
    created_at: datetime = strawberry.field(description="When the change committed.")
    next_attempt_at: datetime | None = strawberry.field(description="When it is tried next.")
    delivered_at: datetime | None = strawberry.field(description="When a 2xx came back.")
    attempts: list[DeliveryAttempt] = strawberry.field(description="Every try, in order.")

    @classmethod
    def from_record(cls, d: records.Delivery) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(d.id),
            event_id=d.event,
            event_type=d.event_type,
            state=DeliveryState(d.state),
            test=d.test,
            created_at=d.created_at,
            next_attempt_at=d.next_at,
            delivered_at=d.delivered_at,
            attempts=[
                DeliveryAttempt(
                    number=a.number,
                    at=a.at,
                    status_code=a.status_code,
                    latency_ms=a.latency_ms,
                    response=a.response,
                    error=a.error,
                )
                for a in d.attempts
            ],
        )


@strawberry.type(description="A webhook sent when an event in its scope sets off a trigger.")
class Automation(Node):
    name: str = strawberry.field(description="Unique in its scope.")
    description: str = strawberry.field(description="Free text.")
    scope: AutomationScope = strawberry.field(description="Where it listens.")
    triggers: list[AutomationTrigger] = strawberry.field(description="What sets it off.")
    alias_pattern: str | None = strawberry.field(
        description="For alias triggers: only aliases matching this glob (`prod*`)."
    )
    url: str = strawberry.field(description="Where the webhook is posted.")
    has_token: bool = strawberry.field(description="A bearer token is sent (never shown).")
    payload_template: str | None = strawberry.field(
        description="The JSON body with ${variables}; null: the documented event payload."
    )
    active: bool = strawberry.field(description="False while paused.")
    created_at: datetime = strawberry.field(description="When it was created.")
    created_by: str = strawberry.field(description="Who created it.")
    updated_at: datetime | None = strawberry.field(description="When it was last changed.")

    @strawberry.field(description="Its deliveries, newest first, each with its attempts.")
    async def deliveries(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        state: DeliveryState | None = None,
    ) -> Connection[WebhookDelivery]:
        before = None
        if (raw := decode_cursor(after)) is not None:
            at, _, delivery_id = raw.partition("|")
            try:
                before = (datetime.fromisoformat(at), delivery_id)
            except ValueError as exc:
                raise BadInput("after", "is not a cursor this list gave") from exc
        page = await info.context.repos.automations.deliveries(
            str(self.id),
            first=page_size(first),
            before=before,
            state=str(state.value) if state else None,
        )
        return connection(
            page, WebhookDelivery.from_record, lambda d: f"{d.created_at.isoformat()}|{d.id}"
        )

    @strawberry.field(description="Events about this automation (its changes), newest first.")
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Event]:
        return await history_of(info, str(self.id), first, after)


def automation_of(a: records.Automation) -> Automation:
    return Automation(
        id=strawberry.ID(a.id),
        name=a.name,
        description=a.description,
        scope=AutomationScope(
            kind=a.scope_kind,
            registry=a.registry_name,
            collection=a.collection_name,
            project=a.project,
        ),
        triggers=[AutomationTrigger[t] for t in a.events],
        alias_pattern=a.alias_pattern,
        url=a.url,
        has_token=a.token is not None,
        payload_template=a.template,
        active=a.active,
        created_at=a.created_at,
        created_by=a.created_by,
        updated_at=a.updated_at,
    )


# --- inputs ---------------------------------------------------------------------------------


@strawberry.input(
    description="Where an automation listens: a registry (and its collections), one "
    "collection (registry and collection), or a project."
)
class AutomationScopeInput:
    registry: str | None = strawberry.field(default=None, description="A registry's name.")
    collection: str | None = strawberry.field(
        default=None, description="A collection of `registry`."
    )
    project: str | None = strawberry.field(default=None, description="A project's name.")


@strawberry.input(description="Create an automation: a scope, triggers and a webhook.")
class CreateAutomationInput:
    name: str = strawberry.field(description="Unique in its scope.")
    scope: AutomationScopeInput = strawberry.field(description="Where it listens.")
    triggers: list[AutomationTrigger] = strawberry.field(
        description="What sets it off (at least one)."
    )
    url: str = strawberry.field(description="http(s) URL the webhook is posted to.")
    description: str = strawberry.field(default="", description="Free text.")
    alias_pattern: str | None = strawberry.field(
        default=None, description="For alias triggers: a glob of alias names (`prod*`)."
    )
    token: str | None = strawberry.field(
        default=None, description="Sent as `Authorization: Bearer <token>`; stored encrypted."
    )
    payload_template: str | None = strawberry.field(
        default=None,
        description="A JSON body with ${variables} (see the README); null: the event payload.",
    )


@strawberry.input(description="Change an automation; fields left out stay as they are.")
class UpdateAutomationInput:
    automation: strawberry.ID = strawberry.field(description="The automation's id.")
    name: str | None = strawberry.field(default=None, description="New name.")
    description: str | None = strawberry.field(default=None, description="New description.")
    triggers: list[AutomationTrigger] | None = strawberry.field(
        default=None, description="New triggers."
    )
    url: str | None = strawberry.field(default=None, description="New URL.")
    alias_pattern: str | None = strawberry.field(
        default=None, description="New alias glob; an empty string removes it."
    )
    token: str | None = strawberry.field(
        default=None, description="New bearer token; an empty string removes it."
    )
    payload_template: str | None = strawberry.field(
        default=None, description="New template; an empty string restores the event payload."
    )
    active: bool | None = strawberry.field(default=None, description="False pauses it.")


@strawberry.input(description="One automation.")
class AutomationInput:
    automation: strawberry.ID = strawberry.field(description="The automation's id.")


@strawberry.input(description="One webhook delivery.")
class DeliveryInput:
    delivery: strawberry.ID = strawberry.field(description="The delivery's id.")


@strawberry.type(description="A created automation, and its signing secret (shown only here).")
class CreateAutomationPayload:
    automation: Automation = strawberry.field(description="The automation.")
    signing_secret: str = strawberry.field(
        description="The Standard Webhooks secret (whsec_...) receivers verify signatures "
        "with. It is stored encrypted and never shown again: keep it now."
    )


@strawberry.type(description="An automation after a change.")
class AutomationPayload:
    automation: Automation = strawberry.field(description="The automation.")


@strawberry.type(description="A deleted automation.")
class DeleteAutomationPayload:
    id: strawberry.ID = strawberry.field(description="The deleted automation's id.")
    cancelled_deliveries: int = strawberry.field(
        description="Deliveries it had queued, now cancelled."
    )


@strawberry.type(description="A delivery after a test or a redelivery.")
class DeliveryPayload:
    delivery: WebhookDelivery = strawberry.field(description="The delivery and its attempts.")


def _name(value: str, field: str) -> str:
    if not NAME.fullmatch(value):
        raise BadInput(
            field,
            "1-100 letters, digits, spaces, '_', '.' or '-', starting with a letter or digit",
        )
    return value


def _triggers(values: list[AutomationTrigger], field: str, scope_kind: str) -> list[str]:
    """The triggers, each one an automation of `scope_kind` can hear."""
    if not values:
        raise BadInput(field, "name at least one trigger, such as ALIAS_SET")
    triggers = sorted({str(v.value) for v in values})
    heard = heard_by(scope_kind)
    never = [t for t in triggers if t not in heard]
    if never:
        other = "a registry or collection" if scope_kind == "project" else "a project"
        raise BadInput(
            field,
            f"{', '.join(never)} never fire{'s' if len(never) == 1 else ''} for a "
            f"{scope_kind}'s automation (only for {other}'s); a {scope_kind}'s hears "
            f"{', '.join(sorted(heard))}",
        )
    return triggers


def _alias_pattern(value: str | None, field: str) -> dict[str, str | None]:
    if not value:
        return {"aliasPattern": None, "aliasRegex": None}
    if not ALIAS_PATTERN.fullmatch(value):
        raise BadInput(field, "an alias name with * and ? as wildcards, such as prod*")
    return {"aliasPattern": value, "aliasRegex": alias_regex(value)}


async def _url(info: Info, value: str, field: str) -> str:
    try:
        return await webhooks.check_url(value.strip(), info.context.settings.webhook_allow_private)
    except webhooks.RefusedUrl as exc:
        raise BadInput(field, str(exc)) from exc


def _template(value: str | None, field: str) -> str | None:
    if not value:
        return None
    if len(value) > MAX_TEMPLATE:
        raise BadInput(field, f"at most {MAX_TEMPLATE} characters")
    try:
        webhooks.check_template(value)
    except ValueError as exc:
        raise BadInput(field, str(exc)) from exc
    return value


def _token(info: Info, value: str | None, field: str) -> str | None:
    if not value:
        return None
    if len(value) > MAX_TOKEN or any(c in value for c in "\r\n"):
        raise BadInput(field, f"one line of at most {MAX_TOKEN} characters")
    return webhooks.SecretBox(info.context.settings).seal(value)


async def _scope(info: Info, scope: AutomationScopeInput) -> dict[str, str | None]:
    repos = info.context.repos
    if scope.project is not None:
        if scope.registry is not None or scope.collection is not None:
            raise BadInput("input.scope", "a project, or a registry (and a collection): not both")
        project = await repos.runs.find_project(name=scope.project)
        if project is None:
            raise NotFound("project", scope.project)
        return {
            "scopeKind": "project",
            "scopeId": project.id,
            "scopeKey": project_scope(project.name),
            "project": project.name,
            "registryId": None,
            "collectionId": None,
        }
    if scope.registry is None:
        raise BadInput("input.scope", "name a registry (and a collection) or a project")
    if scope.collection is not None:
        collection = await repos.registries.get_collection(scope.registry, scope.collection)
        return {
            "scopeKind": "collection",
            "scopeId": collection.id,
            "scopeKey": collection.id,
            "project": None,
            "registryId": collection.registry_id,
            "collectionId": collection.id,
        }
    registry = await repos.registries.get_registry(scope.registry)
    return {
        "scopeKind": "registry",
        "scopeId": registry.id,
        "scopeKey": registry.id,
        "project": None,
        "registryId": registry.id,
        "collectionId": None,
    }


# --- root fields ----------------------------------------------------------------------------


@strawberry.type
class AutomationQuery:
    @strawberry.field(
        description="Automations of a registry (its collections' too), of one collection, "
        "or of a project; for the scope's admins (a project's members)."
    )
    async def automations(
        self,
        info: Info,
        registry: str | None = None,
        collection: str | None = None,
        project: str | None = None,
    ) -> list[Automation]:
        scope = await _scope(
            info, AutomationScopeInput(registry=registry, collection=collection, project=project)
        )
        found = await info.context.repos.automations.in_scope(
            registry_id=scope["registryId"] if scope["scopeKind"] == "registry" else None,
            collection_id=scope["collectionId"],
            project=scope["project"],
        )
        return [automation_of(a) for a in found]

    @strawberry.field(description="One automation by id; null when there is none.")
    async def automation(self, info: Info, id: strawberry.ID) -> Automation | None:
        try:
            found = await info.context.repos.automations.get(str(id))
        except NotFound:
            return None
        return automation_of(found)


@strawberry.type
class AutomationMutation:
    @strawberry.mutation(
        description="Create an automation; its signing secret is in the answer and nowhere else."
    )
    async def create_automation(
        self, info: Info, input: CreateAutomationInput
    ) -> CreateAutomationPayload:
        scope = await _scope(info, input.scope)
        props = {
            "name": _name(input.name, "input.name"),
            "description": input.description[:10_000],
            "events": _triggers(input.triggers, "input.triggers", str(scope["scopeKind"])),
            **_alias_pattern(input.alias_pattern, "input.aliasPattern"),
            "url": await _url(info, input.url, "input.url"),
            "token": _token(info, input.token, "input.token"),
            "template": _template(input.payload_template, "input.payloadTemplate"),
            **scope,
        }
        secret = webhooks.new_signing_secret()
        props["secret"] = webhooks.SecretBox(info.context.settings).seal(secret)
        made = await info.context.repos.automations.create(props, actor=info.context.actor)
        return CreateAutomationPayload(automation=automation_of(made), signing_secret=secret)

    @strawberry.mutation(description="Change an automation: settings, pause (active: false).")
    async def update_automation(
        self, info: Info, input: UpdateAutomationInput
    ) -> AutomationPayload:
        changes: dict[str, object] = {}
        if input.name is not None:
            changes["name"] = _name(input.name, "input.name")
        if input.description is not None:
            changes["description"] = input.description[:10_000]
        if input.triggers is not None:
            # an automation's scope never changes: its kind read now holds when it is written
            kind = (await info.context.repos.automations.get(str(input.automation))).scope_kind
            changes["events"] = _triggers(input.triggers, "input.triggers", kind)
        if input.alias_pattern is not None:
            changes |= _alias_pattern(input.alias_pattern, "input.aliasPattern")
        if input.url is not None:
            changes["url"] = await _url(info, input.url, "input.url")
        if input.token is not None:
            changes["token"] = _token(info, input.token, "input.token")
        if input.payload_template is not None:
            changes["template"] = _template(input.payload_template, "input.payloadTemplate")
        if input.active is not None:
            changes["active"] = input.active
        if not changes:
            raise BadInput("input", "name at least one thing to change")
        updated = await info.context.repos.automations.update(
            str(input.automation), changes, actor=info.context.actor
        )
        return AutomationPayload(automation=automation_of(updated))

    @strawberry.mutation(description="Delete an automation; what it had queued is cancelled.")
    async def delete_automation(
        self, info: Info, input: AutomationInput
    ) -> DeleteAutomationPayload:
        cancelled = await info.context.repos.automations.delete(
            str(input.automation), actor=info.context.actor
        )
        return DeleteAutomationPayload(id=input.automation, cancelled_deliveries=cancelled)

    @strawberry.mutation(
        description="Send a sample event to an automation's webhook now, and answer with "
        "what the receiver said (kept in its delivery log)."
    )
    async def test_automation(self, info: Info, input: AutomationInput) -> DeliveryPayload:
        repo = info.context.repos.automations
        automation = await repo.get(str(input.automation))
        delivery_id = new_id("dlv")  # the test's webhook-id, and its row in the log
        sender = webhooks.Sender(info.context.settings)
        try:
            attempt, _ = await sender.send(
                automation, delivery_id, webhooks.test_message(automation, info.context.actor)
            )
        finally:
            await sender.close()
        await repo.record_test(automation, delivery_id, attempt, actor=info.context.actor)
        return DeliveryPayload(
            delivery=WebhookDelivery.from_record(await repo.delivery(delivery_id))
        )

    @strawberry.mutation(
        description="Send a delivery again now (failed, or delivered but lost by the "
        "receiver), with the same webhook-id and a fresh retry window."
    )
    async def redeliver_webhook(self, info: Info, input: DeliveryInput) -> DeliveryPayload:
        repo = info.context.repos.automations
        try:
            delivery = await repo.delivery(str(input.delivery))
        except NotFound as exc:
            raise Forbidden(f"redeliverWebhook: {str(input.delivery)!r} is not visible") from exc
        await info.context.access.require_automation_admin(delivery.automation, "redeliverWebhook")
        again = await repo.redeliver(delivery.id, actor=info.context.actor)
        return DeliveryPayload(delivery=WebhookDelivery.from_record(again))
