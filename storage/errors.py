"""Errors raised by the blob store. They know nothing of GraphQL; api/errors.py maps them.

StorageError
 +-- StorageUnavailable        the S3 server cannot be reached or refuses us
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error the storage layer raises on purpose."""


class StorageUnavailable(StorageError):
    pass
