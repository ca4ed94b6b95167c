"""Named Cypher, one module per aggregate.

`SET n._lock = true REMOVE n._lock` takes the node's write lock for the rest of the
transaction without leaving a trace: every change to an artifact's versions, a collection's
links or a run's metrics queues behind it, which keeps indexes gapless and aliases single.
"""
