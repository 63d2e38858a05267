"""The Workers test double refuses what the platform refuses (platform notes 1.4, 1.6, 1.7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import workers


class Echo(workers.DurableObject):  # type: ignore[misc]
    async def echo(self, value: Any) -> Any:
        return value

    async def fail(self) -> None:
        raise KeyError("inside the object")

    async def _private(self) -> None:
        return None


@pytest.fixture
def runtime(tmp_path: Path) -> workers.Runtime:
    return workers.Runtime(tmp_path, {"SECRET": "s3cret"}, {"ECHO": Echo})


def stub(runtime: workers.Runtime) -> Any:
    return runtime.env.ECHO.getByName("one")


@pytest.mark.parametrize("value", [(1, 2), bytearray(b"x"), {"nested": [(1,)]}, object()])
async def test_rpc_rejects_values_the_platform_cannot_carry(
    runtime: workers.Runtime, value: Any
) -> None:
    with pytest.raises(TypeError):
        await stub(runtime).echo(value)


async def test_rpc_turns_keyword_arguments_into_a_trailing_dict(runtime: workers.Runtime) -> None:
    assert await stub(runtime).echo(value=1) == {"value": 1}


async def test_rpc_returns_integral_floats_as_ints_and_bytes_as_memoryview(
    runtime: workers.Runtime,
) -> None:
    assert await stub(runtime).echo({"f": 3.0, "g": 2.5}) == {"f": 3, "g": 2.5}
    assert isinstance(await stub(runtime).echo(b"ab"), memoryview)


async def test_rpc_exceptions_arrive_without_their_type(runtime: workers.Runtime) -> None:
    with pytest.raises(workers.JsException, match=r"^PythonError"):
        await stub(runtime).fail()


async def test_rpc_exposes_only_public_methods(runtime: workers.Runtime) -> None:
    with pytest.raises(workers.JsException, match="does not implement"):
        await stub(runtime)._private()


def storage(runtime: workers.Runtime) -> workers.Storage:
    return runtime.namespaces["ECHO"].storage("one")


def test_sql_binds_a_bool_as_the_text_true(runtime: workers.Runtime) -> None:
    row = storage(runtime).sql.exec("SELECT ? AS v, typeof(?) AS t", True, True).one()
    assert row == {"v": "true", "t": "text"}


def test_sql_binds_every_number_as_real(runtime: workers.Runtime) -> None:
    assert storage(runtime).sql.exec("SELECT typeof(?) AS t", 7).one() == {"t": "real"}


def test_sql_refuses_to_bind_an_int_pyodide_makes_a_bigint(runtime: workers.Runtime) -> None:
    with pytest.raises(workers.JsException, match="BigInt"):
        storage(runtime).sql.exec("SELECT ?", 2**53 - 1)


def test_sql_returns_numbers_without_a_fraction_as_int(runtime: workers.Runtime) -> None:
    row = storage(runtime).sql.exec("SELECT 2 AS i, 2.0 AS r, 2.5 AS f").one()
    assert [type(v) for v in row.values()] == [int, int, float]


def test_sql_refuses_transaction_statements(runtime: workers.Runtime) -> None:
    with pytest.raises(workers.JsException, match="transaction"):
        storage(runtime).sql.exec("BEGIN")


def test_sql_refuses_more_than_100_bindings(runtime: workers.Runtime) -> None:
    with pytest.raises(workers.JsException, match="too many"):
        storage(runtime).sql.exec("SELECT " + ",".join("?" * 101), *range(101))


def test_transaction_sync_rolls_back_when_its_function_raises(runtime: workers.Runtime) -> None:
    store = storage(runtime)
    store.sql.exec("CREATE TABLE t (v TEXT)").toArray()

    def write_then_fail() -> None:
        store.sql.exec("INSERT INTO t VALUES ('x')").toArray()
        raise ValueError("boom")

    with pytest.raises(ValueError):
        store.transactionSync(write_then_fail)
    assert store.sql.exec("SELECT COUNT(*) AS n FROM t").one() == {"n": 0.0}


def test_transaction_sync_refuses_an_async_function(runtime: workers.Runtime) -> None:
    async def work() -> None:
        return None

    with pytest.raises(TypeError, match="synchronous"):
        storage(runtime).transactionSync(work)


async def test_an_object_has_one_alarm(runtime: workers.Runtime) -> None:
    store = storage(runtime)
    await store.setAlarm(2_000)
    await store.setAlarm(1_000)
    assert await store.getAlarm() == 1_000
    await store.deleteAlarm()
    assert await store.getAlarm() is None


async def test_a_request_body_reads_once() -> None:
    request = workers.Request("https://bot.example/x", "POST", {}, b"body")
    assert await request.bytes() == b"body"
    with pytest.raises(OSError, match="Body already used"):
        await request.bytes()


def test_env_vars_are_plain_strings(runtime: workers.Runtime) -> None:
    assert runtime.env.SECRET == "s3cret"
