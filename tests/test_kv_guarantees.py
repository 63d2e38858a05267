"""What holds on KV, measured by racing two bot instances; docs/kv.md shows these very counts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.kv_races import GUARANTEES, SETUPS, RaceResult, render_table, run_all

KV_PAGE = Path(__file__).resolve().parents[1] / "docs" / "kv.md"
Results = dict[tuple[str, str], RaceResult]


@pytest.fixture(scope="module")
def results() -> Results:
    return asyncio.run(run_all())


def failures(results: Results, setup: str) -> dict[str, int]:
    return {name: results[(name, setup)].failures for name, *_ in GUARANTEES}


def test_durable_objects_hold_every_guarantee_in_every_race(results: Results) -> None:
    assert set(failures(results, SETUPS[0]).values()) == {0}


def test_kv_in_one_location_holds_every_guarantee_in_every_race(results: Results) -> None:
    assert set(failures(results, SETUPS[1]).values()) == {0}


def test_kv_across_locations_breaks_every_guarantee_under_a_one_second_delay(
    results: Results,
) -> None:
    assert all(count > 0 for count in failures(results, SETUPS[2]).values())


def test_the_readme_table_is_the_measured_one(results: Results) -> None:
    assert render_table(results) in KV_PAGE.read_text(), (
        "docs/kv.md's KV table is stale: run `.venv/bin/python scripts/kv_guarantees.py --write`"
    )
