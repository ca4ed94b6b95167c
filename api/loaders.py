"""Per-request DataLoaders: fields that fan out cost one batched query per request level."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from strawberry.dataloader import DataLoader

from graph.records import Artifact, ArtifactVersion, FileEntry, Page, Run
from graph.repository.artifacts import ArtifactRepository
from graph.repository.runs import RunRepository

V = TypeVar("V")


def _by_key(
    fetch: Callable[[Sequence[str]], Awaitable[Mapping[str, V]]],
) -> DataLoader[str, V | None]:
    async def load(keys: list[str]) -> list[V | None]:
        found = await fetch(keys)
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, runs: RunRepository, artifacts: ArtifactRepository) -> None:
        self.run_by_id: DataLoader[str, Run | None] = _by_key(runs.get_runs)
        self.version_by_id: DataLoader[str, ArtifactVersion | None] = _by_key(
            artifacts.get_versions
        )
        self.artifact_by_id: DataLoader[str, Artifact | None] = _by_key(artifacts.get_artifacts)
        self.producer_by_version: DataLoader[str, str | None] = _by_key(artifacts.producers_of)

        async def first_files(keys: list[tuple[str, int]]) -> list[Page[FileEntry]]:
            pages: dict[tuple[str, int], Page[FileEntry]] = {}
            for size in {first for _, first in keys}:
                ids = [version_id for version_id, first in keys if first == size]
                for version_id, page in (await artifacts.first_files(ids, size)).items():
                    pages[(version_id, size)] = page
            return [pages[key] for key in keys]

        # Keyed by (version id, page size): the first page of each version's files.
        self.first_files: DataLoader[tuple[str, int], Page[FileEntry]] = DataLoader(
            load_fn=first_files
        )
