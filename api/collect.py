"""`python -m api.collect`: expire abandoned PENDING versions and delete unreferenced blobs once.

The server does the same every FOREBEAR_GC_INTERVAL seconds; this is for cron or a one-off.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta

from api.resources import open_resources
from api.services.blobs import collect_garbage
from api.settings import Settings, settings_or_exit
from graph.repository.artifacts import ArtifactRepository
from graph.repository.blobs import BlobRepository


async def collect(settings: Settings) -> dict[str, int]:
    async with open_resources(settings) as (driver, store):
        report = await collect_garbage(
            ArtifactRepository(driver, settings.neo4j_database),
            BlobRepository(driver, settings.neo4j_database),
            store,
            grace=timedelta(seconds=settings.gc_grace),
        )
    return {"expired_versions": report.expired_versions, "removed_blobs": report.removed_blobs}


def main() -> int:
    settings = settings_or_exit()
    print(json.dumps(asyncio.run(collect(settings))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
