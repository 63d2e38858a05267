"""The Workers test double cannot drift from workerd: one probe Worker runs on both and must
report the same outcomes (RPC conversions and refusals, SQL result and binding types,
transactions, waitUntil in a Durable Object, exceptions across RPC, alarms)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import workers

from support.local_server import CONFORMANCE_PROBE, WranglerServer


@pytest.fixture
def probe_module() -> Iterator[Any]:
    sys.path.insert(0, str(CONFORMANCE_PROBE / "src"))
    try:
        yield importlib.import_module("probe_worker")
    finally:
        sys.path.remove(str(CONFORMANCE_PROBE / "src"))


async def report_through_the_double(probe: Any, directory: Path) -> dict[str, Any]:
    runtime = workers.Runtime(directory, {}, {"PROBE": probe.ProbeObject}, timed_alarms=True)
    response = await runtime.entrypoint(probe.Default).fetch(
        workers.Request("http://probe.test/probe")
    )
    report: dict[str, Any] = json.loads(response.body)
    return report


def report_on_workerd(directory: Path) -> dict[str, Any]:
    directory.mkdir()
    server = WranglerServer(directory / "state", "http://unused", directory / "probe.log")
    server.config = CONFORMANCE_PROBE / "wrangler.jsonc"
    server.health_path = "/probe"
    server.start()
    try:
        report: dict[str, Any] = httpx.get(f"{server.url}/probe", timeout=60).json()
        return report
    finally:
        server.stop()


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        keys = sorted(set(expected) | set(actual))
        return [d for k in keys for d in differences(expected.get(k), actual.get(k), f"{path}.{k}")]
    return [] if expected == actual else [f"{path}: workerd {expected!r}, double {actual!r}"]


@pytest.mark.usefixtures("workerd_ready")
async def test_the_double_reports_what_workerd_reports(probe_module: Any, tmp_path: Path) -> None:
    on_workerd = report_on_workerd(tmp_path / "workerd")
    through_double = await report_through_the_double(probe_module, tmp_path / "double")
    assert differences(on_workerd, through_double) == []


async def test_the_probe_sees_the_documented_platform_facts(
    probe_module: Any, tmp_path: Path
) -> None:
    # The facts the glue relies on, as the double reports them (and workerd, by the test above).
    report = await report_through_the_double(probe_module, tmp_path)
    assert report["wait_until_ran"] == ["proxy", "task"]
    assert report["sql_bindings"]["true"] == {"sqlite_type": "text", "stored": ["str", "true"]}
    assert report["sql_bindings"]["int_2_53_minus_1"]["text"].endswith("BigInt value to a number")
    assert report["sql_types"]["integer"][1][0] == ["int", 2**40 + 1]
    assert report["rpc_exception"]["class"] == "JsException"
    assert report["alarm"] == {
        "fired": [["list", [["int", 0], ["int", 0]]]],
        "pending_after": False,
    }
