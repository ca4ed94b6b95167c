"""Cypher of automations and their webhook deliveries (the outbox rows are written by
graph.events.EVENT_CLAUSE, in the transaction of the change that sets them off)."""

from typing import Final, LiteralString

from graph.automations import HEARS

# An automation with the names of its registry and collection as they are now (collections are
# renamed; the names are read, not kept).
_AUTOMATION: Final[LiteralString] = """a {.*,
  registryName: COLLECT { MATCH (r:Registry {id: a.registryId}) RETURN r.name }[0],
  collectionName: COLLECT { MATCH (c:Collection {id: a.collectionId}) RETURN c.name }[0]
} AS automation"""

# The scope's node, write-locked: automations of one scope are created one at a time, so two
# of the same name cannot both be made.
LOCK_SCOPE: Final[LiteralString] = """
MATCH (s:Entity {id: $id})
SET s._lock = true
REMOVE s._lock
RETURN EXISTS {
  MATCH (a:Automation {scopeKey: $scope_key, name: $name}) WHERE NOT a.deleted
    AND a.id <> coalesce($except, '')
} AS taken
"""

CREATE_AUTOMATION: Final[LiteralString] = (
    """
CREATE (a:Automation:Entity)
SET a = $props
RETURN """
    + _AUTOMATION
    + """
"""
)

LOCK_AUTOMATION: Final[LiteralString] = (
    """
MATCH (a:Automation {id: $id}) WHERE NOT a.deleted
SET a._lock = true
REMOVE a._lock
RETURN """
    + _AUTOMATION
    + """
"""
)

UPDATE_AUTOMATION: Final[LiteralString] = (
    """
MATCH (a:Automation {id: $id})
SET a += $props
RETURN """
    + _AUTOMATION
    + """
"""
)

# A deleted automation keeps its node (its history stays readable); what it had queued is
# cancelled.
DELETE_AUTOMATION: Final[LiteralString] = """
MATCH (a:Automation {id: $id})
SET a.deleted = true, a.active = false, a.deletedAt = $now
WITH a
OPTIONAL MATCH (d:Delivery {automation: a.id, state: 'PENDING'})
SET d.state = 'CANCELLED', d.nextAt = $now, d.leaseOwner = null, d.leaseUntil = null
RETURN count(d) AS cancelled
"""

GET_AUTOMATION: Final[LiteralString] = (
    """
MATCH (a:Automation {id: $id}) WHERE NOT a.deleted
RETURN """
    + _AUTOMATION
    + """
"""
)

LIST_AUTOMATIONS: Final[LiteralString] = (
    """
MATCH (a:Automation) WHERE NOT a.deleted
  AND ($registry_id IS NULL OR a.registryId = $registry_id)
  AND ($collection_id IS NULL OR a.collectionId = $collection_id)
  AND ($project IS NULL OR a.project = $project)
RETURN """
    + _AUTOMATION
    + """
ORDER BY a.createdAt, a.id
"""
)

# Deliveries of an automation, newest first, each with its attempts in order.
LIST_DELIVERIES: Final[LiteralString] = """
MATCH (d:Delivery {automation: $automation})
WHERE ($state IS NULL OR d.state = $state)
  AND ($before IS NULL OR [d.createdAt, d.id] < [$before_time, $before])
WITH d ORDER BY d.createdAt DESC, d.id DESC LIMIT $limit
RETURN d {.*, tries: COLLECT {
  MATCH (t:DeliveryAttempt {delivery: d.id}) RETURN t {.*} ORDER BY t.number
}} AS delivery
"""

GET_DELIVERY: Final[LiteralString] = """
MATCH (d:Delivery {id: $id})
RETURN d {.*, tries: COLLECT {
  MATCH (t:DeliveryAttempt {delivery: d.id}) RETURN t {.*} ORDER BY t.number
}} AS delivery
"""

# Whether some outbox row's event is sealed (OUTBOX_HEAD takes only those): the first found
# answers, and rows of events not sealed yet are few (graph.events).
OUTBOX_WAITING: Final[LiteralString] = """
RETURN EXISTS {
  MATCH (o:Outbox) WHERE NOT EXISTS { MATCH (e:Event {id: o.event}) WHERE e:Unsealed }
} AS waiting
"""

# Outbox rows (one per event, written by the change's transaction, naming the automations it
# set off) become Delivery nodes only when a worker has room to send them: a claim takes the
# first automations of the oldest rows, creates their deliveries already leased to itself, and
# keeps the rest in the row (or deletes it). A slow receiver holding every slot leaves the rows
# as they are; nothing is written per delivery until it is sent. One taker at a time
# (LOCK_OUTBOX first, in the same transaction: the OutboxLock node's lock, never taken by a
# change; the node is unique by constraint, so two first takers cannot make two), so no
# automation of a row is taken twice.
LOCK_OUTBOX: Final[LiteralString] = """
MERGE (f:OutboxLock {id: 'outbox'})
SET f._lock = true
REMOVE f._lock
"""

# A page of the oldest rows after the cursor whose events are sealed (so a delivery carries
# the event's place in the log; graph.events), each with the automations it is owed: on its
# first take, those that hear its event (created before it, active now); after, those of the
# ones it named that were not deleted since.
OUTBOX_HEAD: Final[LiteralString] = (
    """
MATCH (o:Outbox) WHERE o.time IS NOT NULL
  AND ($after_time IS NULL OR [o.time, o.event] > [$after_time, $after_event])
  AND NOT EXISTS { MATCH (e:Event {id: o.event}) WHERE e:Unsealed }
WITH o ORDER BY o.time, o.event LIMIT $limit
WITH o, o.scopes AS scopes, o.triggers AS triggers, o.aliases AS aliases
RETURN o.event AS event, o.time AS time, CASE
  WHEN o.automations IS NULL THEN COLLECT {
    MATCH (a:Automation) WHERE a.createdAt <= o.time AND """
    + HEARS
    + """
    RETURN a.id ORDER BY a.createdAt, a.id
  }
  ELSE [id IN o.automations WHERE EXISTS {
    MATCH (a:Automation {id: id}) WHERE NOT a.deleted }]
END AS automations
"""
)

# $rows: event, taken (automation ids), rest (those left for later). An automation deleted
# since is owed nothing; a paused one gets its delivery, unleased, to send when it is resumed.
TAKE_OUTBOX: Final[LiteralString] = """
UNWIND $rows AS row
MATCH (o:Outbox {event: row.event})
CALL (o, row) {
  UNWIND row.taken AS automation_id
  MATCH (a:Automation {id: automation_id}) WHERE NOT a.deleted
  CREATE (d:Delivery {id: 'dlv_' + substring(replace(randomUUID(), '-', ''), 0, 24),
                      automation: a.id, event: o.event, eventType: o.eventType,
                      state: 'PENDING', attempts: 0, test: false, createdAt: o.time,
                      nextAt: o.time, claim: CASE WHEN a.active THEN 1 ELSE 0 END,
                      leaseOwner: CASE WHEN a.active THEN $owner END,
                      leaseUntil: CASE WHEN a.active THEN $lease_until END})
  WITH a, d WHERE a.active
  RETURN collect({delivery: d {.*}, automation: a {.*}}) AS made
}
OPTIONAL MATCH (e:Event {id: o.event})
WITH o, row, made, e {.*} AS event
CALL (o, row) {
  WITH o, row WHERE size(row.rest) > 0
  SET o.automations = row.rest
}
CALL (o, row) {
  WITH o, row WHERE size(row.rest) = 0
  DELETE o
}
UNWIND made AS m
RETURN m.delivery AS delivery, m.automation AS automation, event
"""

# Claims due deliveries for one worker: each row's lock is taken before its state is read
# again, so of two replicas claiming together only one gets a delivery; the lease lets another
# take it over when this worker dies holding it. The due ones are read in the index's order,
# $scan of them (room for those other workers hold), not all.
CLAIM_DELIVERIES: Final[LiteralString] = """
MATCH (d:Delivery)
WHERE d.state = 'PENDING' AND d.nextAt <= $now
WITH d ORDER BY d.nextAt LIMIT $scan
WITH d WHERE (d.leaseUntil IS NULL OR d.leaseUntil <= $now)
  AND EXISTS { MATCH (a:Automation {id: d.automation}) WHERE a.active }
WITH d LIMIT $limit
SET d._lock = true
REMOVE d._lock
WITH d
WHERE d.state = 'PENDING' AND (d.leaseUntil IS NULL OR d.leaseUntil <= $now)
SET d.leaseOwner = $owner, d.leaseUntil = $lease_until, d.claim = coalesce(d.claim, 0) + 1
WITH d
MATCH (a:Automation {id: d.automation})
OPTIONAL MATCH (e:Event {id: d.event})
RETURN d {.*} AS delivery, a {.*} AS automation, e {.*} AS event
"""

# Attempts' outcomes ($rows: id, claim, state, nextAt, attempt), each written only while the
# claim that made it still holds; one transaction for many (a commit is a disk flush).
RECORD_ATTEMPTS: Final[LiteralString] = """
UNWIND $rows AS row
MATCH (d:Delivery {id: row.id})
SET d._lock = true
REMOVE d._lock
WITH d, row
WHERE d.claim = row.claim AND d.leaseOwner = $owner AND d.state = 'PENDING'
SET d.attempts = d.attempts + 1, d.state = row.state, d.nextAt = row.nextAt,
    d.leaseOwner = null, d.leaseUntil = null,
    d.deliveredAt = CASE WHEN row.state = 'DELIVERED' THEN row.attempt.at
                         ELSE d.deliveredAt END,
    d.lastStatus = row.attempt.statusCode
CREATE (t:DeliveryAttempt)
SET t = row.attempt, t.delivery = d.id, t.number = d.attempts
RETURN d.id AS id
"""

# A test delivery: sent at once (not through the outbox), kept in the log with its attempt.
RECORD_TEST: Final[LiteralString] = """
CREATE (d:Delivery {id: $id, automation: $automation, event: null, eventType: 'test',
                    state: $state, attempts: 1, test: true, createdAt: $attempt.at,
                    nextAt: $attempt.at, lastStatus: $attempt.statusCode,
                    deliveredAt: CASE WHEN $state = 'DELIVERED' THEN $attempt.at END})
CREATE (t:DeliveryAttempt)
SET t = $attempt, t.delivery = $id, t.number = 1
"""

LOCK_DELIVERY: Final[LiteralString] = """
MATCH (d:Delivery {id: $id})
SET d._lock = true
REMOVE d._lock
RETURN d {.*} AS delivery
"""

REDELIVER: Final[LiteralString] = """
MATCH (d:Delivery {id: $id})
SET d.state = 'PENDING', d.nextAt = $now, d.retryFrom = $now, d.leaseOwner = null,
    d.leaseUntil = null, d.redelivered = coalesce(d.redelivered, 0) + 1
"""

# Settled deliveries whose last attempt is older than $before, with their attempts, a batch at a
# time; one pruner at a time (its own lock node), so two replicas do not delete the same nodes.
PRUNE_DELIVERIES: Final[LiteralString] = """
OPTIONAL MATCH (due:Delivery)
WHERE due.state IN ['DELIVERED', 'FAILED', 'CANCELLED'] AND due.nextAt < $before
WITH due LIMIT 1
WITH due WHERE due IS NOT NULL  // nothing to prune: no lock, nothing written
MERGE (f:OutboxLock {id: 'prune'})
SET f._lock = true
REMOVE f._lock
WITH f
MATCH (d:Delivery)
WHERE d.state IN ['DELIVERED', 'FAILED', 'CANCELLED'] AND d.nextAt < $before
WITH d LIMIT $limit
CALL (d) {
  MATCH (t:DeliveryAttempt {delivery: d.id})
  DELETE t
}
DELETE d
RETURN count(*) AS pruned
"""

# What a delivery's payload names, by the ids an event is about.
NAMES: Final[LiteralString] = """
OPTIONAL MATCH (c:Collection {id: $collection})
OPTIONAL MATCH (r:Registry {id: coalesce(c.registryId, $registry)})
OPTIONAL MATCH (run:Run {id: $run})
RETURN c.name AS collection, r.name AS registry, run.name AS run_name,
  run.project AS run_project
"""
