"""The blob store against a real MinIO: the S3 calls the collector relies on."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from api.settings import Settings
from storage.blobs import BlobStore, blob_key
from tests.helpers import s3_client


@pytest.fixture
def store(settings: Settings) -> BlobStore:
    """A store on the test's own bucket (the `settings` fixture removes it afterwards)."""
    client = s3_client(settings)
    client.make_bucket(settings.s3_bucket)
    return BlobStore(client, settings.s3_bucket)


async def test_unfinished_multipart_uploads_are_listed_by_age_and_aborted(
    store: BlobStore, settings: Settings
) -> None:
    # What an API killed mid-upload leaves: a multipart upload with a part and no completion.
    # The minio client's private calls are used here and in storage.blobs: this fails when
    # they move.
    client = s3_client(settings)
    key = blob_key("ab" * 32)
    upload_id = client._create_multipart_upload(settings.s3_bucket, key, {})
    client._upload_part(settings.s3_bucket, key, b"x" * 1024, None, upload_id, 1)
    now = datetime.now(UTC)
    assert await store.stale_uploads(now - timedelta(hours=1)) == []  # in flight: young
    assert await store.stale_uploads(now + timedelta(seconds=5)) == [(key, upload_id)]
    await store.abort_upload(key, upload_id)
    await store.abort_upload(key, upload_id)  # gone already is fine
    assert await store.stale_uploads(now + timedelta(seconds=5)) == []


async def test_objects_are_listed_in_pages_and_removed_only_when_old(
    store: BlobStore, settings: Settings
) -> None:
    client = s3_client(settings)
    shas = sorted(f"{i:02x}" * 32 for i in range(5))
    for sha in shas:
        client.put_object(settings.s3_bucket, blob_key(sha), io.BytesIO(b"o"), 1)
    first = await store.listed("blobs/", "", 3)
    rest = await store.listed("blobs/", first[-1][0], 3)
    assert [key for key, _ in first + rest] == [blob_key(sha) for sha in shas]
    assert await store.listed("blobs/", rest[-1][0], 3) == []
    assert await store.listed("packs/", "", 3) == []
    key = blob_key(shas[0])
    assert not await store.remove_if_older(key, datetime.now(UTC) - timedelta(hours=1))
    assert await store.exists(shas[0])
    assert await store.remove_if_older(key, datetime.now(UTC) + timedelta(seconds=5))
    assert not await store.exists(shas[0])
    assert await store.remove_if_older(key, datetime.now(UTC))  # gone already
