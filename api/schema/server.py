"""What a client can learn about the running service and the servers behind it."""

from __future__ import annotations

from importlib.metadata import version

import strawberry

from api.context import Info


@strawberry.type(description="The running Forebear service and the servers it depends on.")
class ServerInfo:
    version: str = strawberry.field(description="Forebear's own version.")
    neo4j_version: str = strawberry.field(description="Version reported by the Neo4j server.")
    neo4j_edition: str = strawberry.field(description="Neo4j edition: community or enterprise.")
    neo4j_database: str = strawberry.field(description="Neo4j database Forebear writes to.")
    s3_bucket: str = strawberry.field(description="S3 bucket holding artifact file contents.")


@strawberry.type
class ServerQuery:
    @strawberry.field(
        description="Versions of Forebear and Neo4j, and the S3 bucket in use. "
        "Asks Neo4j, so it fails with UNAVAILABLE when Neo4j is down."
    )
    async def server_info(self, info: Info) -> ServerInfo:
        neo4j = await info.context.server.get_info()
        return ServerInfo(
            version=version("forebear"),
            neo4j_version=neo4j.neo4j_version,
            neo4j_edition=neo4j.neo4j_edition,
            neo4j_database=neo4j.database,
            s3_bucket=info.context.blobs.bucket,
        )
