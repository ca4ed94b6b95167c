"""Errors raised by the blob store. They know nothing of GraphQL or HTTP; api/ maps them.

StorageError
 +-- StorageUnavailable        the S3 server cannot be reached or refuses us
 +-- UploadRejected            the uploaded bytes are not what was announced
      +-- DigestMismatch       their sha256 differs from the one in the URL
      +-- TooLarge             they pass the configured size limit
      +-- SizeMismatch         fewer bytes than Content-Length arrived
 +-- BlobMissing               no object for that sha256
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error the storage layer raises on purpose."""


class StorageUnavailable(StorageError):
    pass


class UploadRejected(StorageError):
    pass


class DigestMismatch(UploadRejected):
    pass


class TooLarge(UploadRejected):
    pass


class SizeMismatch(UploadRejected):
    pass


class BlobMissing(StorageError):
    pass
