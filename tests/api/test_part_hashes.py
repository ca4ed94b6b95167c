"""The whole sha256 of a resumable upload, followed as its parts arrive in any order; whenever
it cannot be vouched for, no digest (the server reads the joined object back instead)."""

from __future__ import annotations

import hashlib
import os

from api.services.uploads import PartHashes
from graph.repository.uploads import UploadSession

PARTS = [os.urandom(1000) for _ in range(5)]
WHOLE = hashlib.sha256(b"".join(PARTS)).hexdigest()


def session(name: str) -> UploadSession:
    return UploadSession(name, WHOLE, 5000, 1000, "s3-upload", "usr_1", f"uploads/{name}")


async def test_parts_in_any_order_give_the_whole_digest() -> None:
    hashes = PartHashes()
    for name, order in (("in-order", [1, 2, 3, 4, 5]), ("shuffled", [3, 1, 5, 2, 4])):
        hashes.start(session(name))
        for number in order:
            assert hashes.digest(name, 5) is None  # not all of them yet
            await hashes.add(name, number, PARTS[number - 1])
        assert hashes.digest(name, 5) == WHOLE
        assert hashes.session(name) == session(name)
        hashes.forget(name)
        assert hashes.digest(name, 5) is None
        assert hashes.session(name) is None


async def test_no_digest_when_a_part_comes_twice_or_too_much_waits() -> None:
    hashes = PartHashes(waiting=2500)
    hashes.start(session("twice"))
    for number in (1, 2, 2, 3, 4, 5):  # S3 keeps the later bytes of part 2
        await hashes.add("twice", number, PARTS[number - 1])
    assert hashes.digest("twice", 5) is None
    hashes.start(session("late"))
    for number in (2, 3, 4, 5, 1):  # 4000 bytes wait for part 1: over the budget
        await hashes.add("late", number, PARTS[number - 1])
    assert hashes.digest("late", 5) is None
    await hashes.add("not started here", 1, PARTS[0])  # another process's session
    assert hashes.digest("not started here", 1) is None


async def test_only_the_latest_sessions_are_followed() -> None:
    hashes = PartHashes(sessions=2)
    for name in ("a", "b", "c"):
        hashes.start(session(name))
    assert [hashes.session(n) is not None for n in ("a", "b", "c")] == [False, True, True]


async def test_memory_stays_bounded_across_sessions() -> None:
    hashes = PartHashes(waiting=2500, all_waiting=3000)
    for name in ("a", "b"):
        hashes.start(session(name))
        for number in (2, 3):  # 2,000 bytes wait in each: 4,000 together, over 3,000
            await hashes.add(name, number, PARTS[number - 1])
    for name in ("a", "b"):
        for number in (1, 4, 5):
            await hashes.add(name, number, PARTS[number - 1])
    assert hashes.digest("a", 5) == WHOLE  # the first kept its waiting parts
    assert hashes.digest("b", 5) is None  # the second is read back instead
