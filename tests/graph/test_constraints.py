"""Constraints and indexes: applied at start-up, idempotent, and enforced."""

from __future__ import annotations

import asyncio

import pytest
from neo4j import AsyncDriver
from neo4j.exceptions import ConstraintError

from graph.constraints import CONSTRAINTS, ensure_constraints


async def schema_rules(driver: AsyncDriver) -> set[str]:
    constraints, _, _ = await driver.execute_query("SHOW CONSTRAINTS YIELD name")
    indexes, _, _ = await driver.execute_query("SHOW INDEXES YIELD name")
    return {r["name"] for r in constraints} | {r["name"] for r in indexes}


def declared_names() -> set[str]:
    return {statement.split()[2] for statement in CONSTRAINTS}


async def test_every_declared_rule_exists_after_start_up(driver: AsyncDriver) -> None:
    assert declared_names() <= await schema_rules(driver)


async def test_applying_the_constraints_again_changes_nothing(driver: AsyncDriver) -> None:
    before = await schema_rules(driver)
    await ensure_constraints(driver)
    await ensure_constraints(driver)
    assert await schema_rules(driver) == before


async def test_replicas_starting_together_apply_the_constraints_without_error(
    driver: AsyncDriver,
) -> None:
    await driver.execute_query("DROP CONSTRAINT project_name IF EXISTS")
    await asyncio.gather(*(ensure_constraints(driver) for _ in range(4)))
    assert "project_name" in await schema_rules(driver)


async def test_a_duplicate_project_name_is_refused_by_the_graph(driver: AsyncDriver) -> None:
    await driver.execute_query("CREATE (:Project {name: 'fraud'})")
    with pytest.raises(ConstraintError):
        await driver.execute_query("CREATE (:Project {name: 'fraud'})")
