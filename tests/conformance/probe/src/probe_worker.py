"""A probe of the Workers runtime behaviours the project depends on.

`GET /probe` answers a JSON report of outcomes: what RPC delivers and refuses, SQL result and
binding types, transactionSync rollback, what ctx.waitUntil runs in a Durable Object,
exceptions across RPC, and alarms. tests/test_workers_conformance.py runs it on workerd and
through the test double and requires the same report from both.
"""

import asyncio
import json
import time

from pyodide.ffi import create_proxy
from workers import DurableObject, Response, WorkerEntrypoint


def describe(value):
    """A value's Python type and content, the same on both runtimes (JsDict counts as dict)."""
    if value is None:
        return ["None"]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return [kind.__name__, value]
    if isinstance(value, memoryview):
        return ["memoryview", bytes(value).hex()]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    if isinstance(value, list):
        return ["list", [describe(v) for v in value]]
    if isinstance(value, dict):
        return ["dict", {str(k): describe(v) for k, v in value.items()}]
    return ["other", type(value).__name__]


def outcome_of_error(error):
    return {
        "class": type(error).__name__,
        "is_type_error": isinstance(error, TypeError),
        "mentions_python_error": "PythonError" in str(error),
        "keeps_message": "boom-7" in str(error),
    }


class ProbeObject(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.sql = ctx.storage.sql
        self.sql.exec("CREATE TABLE IF NOT EXISTS ran (name TEXT PRIMARY KEY)")
        self.sql.exec("CREATE TABLE IF NOT EXISTS alarms (retry_count INTEGER, is_retry INTEGER)")

    async def reset(self):
        self.sql.exec("DELETE FROM ran")
        self.sql.exec("DELETE FROM alarms")
        await self.ctx.storage.deleteAlarm()
        return True

    async def receive(self, value):
        return describe(value)

    async def receive_all(self, *values):
        return [describe(v) for v in values]

    async def fail(self):
        raise ValueError("boom-7")

    async def sql_types(self):
        self.sql.exec("DROP TABLE IF EXISTS typed")
        self.sql.exec("CREATE TABLE typed (name TEXT, i INTEGER, r REAL, t TEXT, b BLOB, u)")
        rows = [
            ("integer", 2**40 + 1, None, None, None, None),
            ("real", None, 1.5, None, None, None),
            ("real_integral", None, 2.0, None, None, None),
            ("text", None, None, "x", None, None),
            ("blob", None, None, None, b"\x01\x02", None),
            ("null", None, None, None, None, None),
        ]
        for row in rows:
            self.sql.exec("INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?)", *row)
        found = {}
        for row in self.sql.exec("SELECT * FROM typed").toArray():
            found[row["name"]] = describe([row["i"], row["r"], row["t"], row["b"], row["u"]])
        return found

    async def sql_bindings(self):
        outcomes = {}
        for name, value in {
            "true": True,
            "false": False,
            "int_2_53_minus_1": 2**53 - 1,
            "int_2_31": 2**31,
            "int_2_31_minus_1": 2**31 - 1,
            "int_2_40": 2**40,
            "int_minus_2_40": -(2**40),
            "int_2_52": 2**52,
            "int_2_53_minus_2": 2**53 - 2,
            "int_2_53": 2**53,
            "float": 0.25,
        }.items():
            try:
                row = self.sql.exec("SELECT ? AS v, typeof(?) AS t", value, value).one()
                outcomes[name] = {"stored": describe(row["v"]), "sqlite_type": row["t"]}
            except Exception as error:
                outcomes[name] = {"error": type(error).__name__, "text": str(error)[:60]}
        return outcomes

    async def transaction_rollback(self):
        self.sql.exec("DROP TABLE IF EXISTS tx")
        self.sql.exec("CREATE TABLE tx (v INTEGER)")

        def write_then_fail():
            self.sql.exec("INSERT INTO tx VALUES (1)")
            raise RuntimeError("roll back")

        try:
            self.ctx.storage.transactionSync(write_then_fail)
            raised = False
        except Exception:
            raised = True

        def write():
            self.sql.exec("INSERT INTO tx VALUES (2)")
            return 5

        returned = self.ctx.storage.transactionSync(write)
        values = [r["v"] for r in self.sql.exec("SELECT v FROM tx").toArray()]
        return {"raised": raised, "returned": describe(returned), "rows": describe(values)}

    async def _record(self, name):
        await asyncio.sleep(0.05)
        self.sql.exec("INSERT OR IGNORE INTO ran VALUES (?)", name)

    async def start_background(self):
        self.ctx.waitUntil(self._record("coroutine"))
        self.ctx.waitUntil(asyncio.ensure_future(self._record("task")))
        task = asyncio.ensure_future(self._record("proxy"))
        proxy = create_proxy(task)
        self.ctx.waitUntil(proxy)
        task.add_done_callback(lambda _: proxy.destroy())
        return True

    async def background_ran(self):
        return sorted(r["name"] for r in self.sql.exec("SELECT name FROM ran").toArray())

    async def set_alarm(self):
        await self.ctx.storage.setAlarm(int(time.time() * 1000) + 200)
        return describe(await self.ctx.storage.getAlarm() is not None)

    async def alarm_report(self):
        rows = self.sql.exec("SELECT retry_count, is_retry FROM alarms").toArray()
        return {
            "fired": [describe([r["retry_count"], r["is_retry"]]) for r in rows],
            "pending_after": await self.ctx.storage.getAlarm() is not None,
        }

    async def alarm(self, alarm_info=None):
        retry_count = int(getattr(alarm_info, "retryCount", -1))
        is_retry = int(bool(getattr(alarm_info, "isRetry", False)))
        self.sql.exec("INSERT INTO alarms VALUES (?, ?)", retry_count, is_retry)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        probe = self.env.PROBE.getByName("probe")
        await probe.reset()
        report = {}
        sent = {
            "dict_with_none": {"a": None, "b": 1},
            "float_integral": 3.0,
            "float": 2.5,
            "bool": True,
            "int_2_40": 2**40 + 1,
            "int_2_60": 2**60,
            "bytes": b"ab",
            "nested": [1, "x", [None, {"k": False}]],
        }
        report["rpc_delivers"] = {n: await probe.receive(v) for n, v in sent.items()}
        refused = {"tuple": (1, 2), "bytearray": bytearray(b"x"), "nested_tuple": [{"a": (1,)}]}
        report["rpc_refuses"] = {}
        for name, value in refused.items():
            try:
                await probe.receive(value)
                report["rpc_refuses"][name] = "delivered"
            except Exception as error:
                report["rpc_refuses"][name] = outcome_of_error(error)
        try:
            report["rpc_kwargs"] = await probe.receive_all(1, k=2)
        except Exception as error:
            report["rpc_kwargs"] = outcome_of_error(error)
        try:
            await probe.fail()
        except Exception as error:
            report["rpc_exception"] = outcome_of_error(error)
        report["sql_types"] = await probe.sql_types()
        report["sql_bindings"] = await probe.sql_bindings()
        report["transaction"] = await probe.transaction_rollback()
        await probe.start_background()
        await asyncio.sleep(1.0)
        report["wait_until_ran"] = await probe.background_ran()
        report["alarm_set"] = await probe.set_alarm()
        await asyncio.sleep(2.0)
        report["alarm"] = await probe.alarm_report()
        return Response(
            json.dumps(report, sort_keys=True), headers={"content-type": "application/json"}
        )
