"""The uniqueness constraints and indexes of the graph, applied idempotently at start-up."""

from __future__ import annotations

from typing import Final, LiteralString

from neo4j import AsyncDriver

CONSTRAINTS: Final[tuple[LiteralString, ...]] = (
    "CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT project_name IF NOT EXISTS FOR (p:Project) REQUIRE p.name IS UNIQUE",
    "CREATE CONSTRAINT lineage_id IF NOT EXISTS FOR (n:Lineage) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT run_id IF NOT EXISTS FOR (r:Run) REQUIRE r.id IS UNIQUE",
    "CREATE CONSTRAINT run_openlineage IF NOT EXISTS FOR (r:Run) REQUIRE r.olRunId IS UNIQUE",
    # A run's own key (W&B's run id) names one run in its project: a second start resumes it.
    "CREATE CONSTRAINT run_key IF NOT EXISTS FOR (r:Run) REQUIRE (r.project, r.key) IS UNIQUE",
    "CREATE CONSTRAINT openlineage_event IF NOT EXISTS "
    "FOR (x:OpenLineageEvent) REQUIRE x.digest IS UNIQUE",
    "CREATE INDEX version_openlineage IF NOT EXISTS "
    "FOR (v:ArtifactVersion) ON (v.artifactId, v.olVersion)",
    "CREATE CONSTRAINT artifact_id IF NOT EXISTS FOR (a:Artifact) REQUIRE a.id IS UNIQUE",
    "CREATE CONSTRAINT version_id IF NOT EXISTS FOR (v:ArtifactVersion) REQUIRE v.id IS UNIQUE",
    "CREATE CONSTRAINT artifact_name IF NOT EXISTS "
    "FOR (a:Artifact) REQUIRE (a.project, a.name) IS UNIQUE",
    "CREATE CONSTRAINT alias_name IF NOT EXISTS "
    "FOR (a:Alias) REQUIRE (a.artifactId, a.name) IS UNIQUE",
    "CREATE CONSTRAINT blob_sha256 IF NOT EXISTS FOR (b:Blob) REQUIRE b.sha256 IS UNIQUE",
    "CREATE INDEX blob_object IF NOT EXISTS FOR (b:Blob) ON (b.object)",
    "CREATE CONSTRAINT registry_name IF NOT EXISTS FOR (r:Registry) REQUIRE r.name IS UNIQUE",
    "CREATE CONSTRAINT collection_id IF NOT EXISTS FOR (c:Collection) REQUIRE c.id IS UNIQUE",
    "CREATE CONSTRAINT event_id IF NOT EXISTS FOR (e:Event) REQUIRE e.id IS UNIQUE",
    "CREATE CONSTRAINT user_id IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE",
    "CREATE CONSTRAINT user_name IF NOT EXISTS FOR (u:User) REQUIRE u.name IS UNIQUE",
    "CREATE CONSTRAINT api_key_id IF NOT EXISTS FOR (k:ApiKey) REQUIRE k.id IS UNIQUE",
    "CREATE CONSTRAINT api_key_hash IF NOT EXISTS FOR (k:ApiKey) REQUIRE k.hash IS UNIQUE",
    "CREATE INDEX event_time IF NOT EXISTS FOR (e:Event) ON (e.time)",
    "CREATE CONSTRAINT automation_id IF NOT EXISTS FOR (a:Automation) REQUIRE a.id IS UNIQUE",
    "CREATE INDEX automation_scope IF NOT EXISTS FOR (a:Automation) ON (a.scopeKey)",
    "CREATE CONSTRAINT delivery_id IF NOT EXISTS FOR (d:Delivery) REQUIRE d.id IS UNIQUE",
    "CREATE INDEX policy_target IF NOT EXISTS FOR (p:Policy) ON (p.registryId, p.kind, p.target)",
    "CREATE INDEX outbox_time IF NOT EXISTS FOR (o:Outbox) ON (o.time)",
    "CREATE INDEX alias_span IF NOT EXISTS FOR (h:AliasSpan) ON (h.artifactId, h.name)",
    # An alias's open span, found by every move of it (each commit moves `latest`) without
    # reading the alias's whole history.
    "CREATE INDEX alias_span_open IF NOT EXISTS "
    "FOR (h:AliasSpan) ON (h.artifactId, h.name, h.open)",
    "CREATE CONSTRAINT outbox_event IF NOT EXISTS FOR (o:Outbox) REQUIRE o.event IS UNIQUE",
    "CREATE CONSTRAINT outbox_lock IF NOT EXISTS FOR (f:OutboxLock) REQUIRE f.id IS UNIQUE",
    "CREATE INDEX delivery_due IF NOT EXISTS FOR (d:Delivery) ON (d.state, d.nextAt)",
    "CREATE INDEX delivery_automation IF NOT EXISTS FOR (d:Delivery) ON (d.automation)",
    "CREATE INDEX delivery_attempt IF NOT EXISTS FOR (t:DeliveryAttempt) ON (t.delivery)",
    "CREATE CONSTRAINT event_seq IF NOT EXISTS FOR (e:Event) REQUIRE e.seq IS UNIQUE",
    "CREATE CONSTRAINT event_import IF NOT EXISTS FOR (e:Event) REQUIRE e.importKey IS UNIQUE",
    "CREATE CONSTRAINT audit_head IF NOT EXISTS FOR (h:AuditHead) REQUIRE h.id IS UNIQUE",
    "CREATE CONSTRAINT registry_id IF NOT EXISTS FOR (r:Registry) REQUIRE r.id IS UNIQUE",
    "CREATE CONSTRAINT collection_name IF NOT EXISTS "
    "FOR (c:Collection) REQUIRE (c.registryId, c.name) IS UNIQUE",
    "CREATE CONSTRAINT link_id IF NOT EXISTS FOR (l:Link) REQUIRE l.id IS UNIQUE",
    "CREATE CONSTRAINT link_index IF NOT EXISTS "
    "FOR (l:Link) REQUIRE (l.collectionId, l.index) IS UNIQUE",
    # "Is this version linked here already?" by index, not by a walk over every link.
    "CREATE INDEX link_version IF NOT EXISTS FOR (l:Link) ON (l.versionId)",
    "CREATE CONSTRAINT link_semver IF NOT EXISTS "
    "FOR (l:Link) REQUIRE (l.collectionId, l.semver) IS UNIQUE",
    "CREATE INDEX assignment_link IF NOT EXISTS FOR (a:Assignment) ON (a.linkId, a.open)",
    "CREATE INDEX assignment_open IF NOT EXISTS "
    "FOR (a:Assignment) ON (a.collectionId, a.kind, a.name, a.open)",
    "CREATE INDEX assignment_lookup IF NOT EXISTS "
    "FOR (a:Assignment) ON (a.collectionId, a.kind, a.name)",
    "CREATE INDEX run_project_started IF NOT EXISTS FOR (r:Run) ON (r.project, r.startedAt)",
    "CREATE INDEX run_silent_after IF NOT EXISTS FOR (r:Run) ON (r.silentAfter)",
    "CREATE INDEX metric_chunk IF NOT EXISTS FOR (m:MetricChunk) ON (m.runId, m.key)",
    "CREATE INDEX version_state IF NOT EXISTS FOR (v:ArtifactVersion) ON (v.state, v.expiresAt)",
    # A keyed mutation's event carries its claim: a second commit of it fails here.
    "CREATE CONSTRAINT event_idempotency IF NOT EXISTS "
    "FOR (e:Event) REQUIRE e.idempotency IS UNIQUE",
    "CREATE CONSTRAINT idempotency_id IF NOT EXISTS FOR (i:Idempotency) REQUIRE i.id IS UNIQUE",
    "CREATE INDEX idempotency_expiry IF NOT EXISTS FOR (i:Idempotency) ON (i.expiresAt)",
    "CREATE CONSTRAINT upload_session_id IF NOT EXISTS "
    "FOR (s:UploadSession) REQUIRE s.id IS UNIQUE",
    "CREATE CONSTRAINT upload_session_content IF NOT EXISTS "
    "FOR (s:UploadSession) REQUIRE (s.owner, s.sha256) IS UNIQUE",
)

# Several replicas may start at once; the loser of a race on the same rule sees this code.
_ALREADY_EXISTS: Final = "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists"


async def ensure_constraints(driver: AsyncDriver, database: str | None = None) -> None:
    """Create every constraint and index in CONSTRAINTS that does not exist yet."""
    from neo4j.exceptions import ClientError

    for statement in CONSTRAINTS:
        try:
            await driver.execute_query(statement, database_=database)
        except ClientError as exc:
            if exc.code != _ALREADY_EXISTS:
                raise
