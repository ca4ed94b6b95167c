"""`python -m api.collect`: expire abandoned PENDING versions and delete unreferenced blobs once
(and forget idempotency keys past their time).

The server does the same every FOREBEAR_GC_INTERVAL seconds; this is for cron or a one-off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from datetime import timedelta

from api.resources import open_resources
from api.services.blobs import collect_garbage
from api.settings import Settings, settings_or_exit
from graph.repository.artifacts import ArtifactRepository
from graph.repository.blobs import BlobRepository
from graph.repository.idempotency import IdempotencyRepository
from graph.repository.uploads import UploadRepository


async def collect(settings: Settings) -> dict[str, int]:
    async with open_resources(settings) as (driver, store):
        report = await collect_garbage(
            ArtifactRepository(driver, settings.neo4j_database),
            BlobRepository(driver, settings.neo4j_database),
            store,
            grace=timedelta(seconds=settings.gc_grace),
            keys=IdempotencyRepository(driver, settings.neo4j_database),
            upload_grace=timedelta(seconds=settings.gc_upload_grace),
            sessions=UploadRepository(driver, settings.neo4j_database),
        )
    return dataclasses.asdict(report)


def main() -> int:
    settings = settings_or_exit()
    print(json.dumps(asyncio.run(collect(settings))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
