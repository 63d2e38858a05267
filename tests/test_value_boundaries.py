"""The two value checks every state call passes: JSON values for storage, RPC for shard calls.

Their errors name where in a nested value the offending part sits.
"""

from __future__ import annotations

from typing import Any

import pytest

from chatstate.state.json_values import decode_json_items, encode_json
from chatstate.state.rpc_values import RpcConversionError, cross_rpc


def test_encode_json_is_compact_and_keeps_non_ascii_text() -> None:
    assert encode_json({"a": [1, "é", None, True, 2.5]}, "v") == '{"a":[1,"é",null,true,2.5]}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": [1, (2, 3)]}, r"^state\.a\[1\]: tuple is not a JSON value$"),
        ([{"x": float("nan")}], r"^state\[0\]\.x: nan is not a JSON value"),
        ({"a": {1: "one"}}, r"^state\.a: object key 1 is not a string$"),
        ({"s": {1, 2}}, r"^state\.s: set is not a JSON value$"),
    ],
)
def test_encode_json_names_where_a_value_is_not_json(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        encode_json(value, "state")


def test_cross_rpc_turns_whole_floats_into_ints_and_bytes_into_memoryview() -> None:
    crossed = cross_rpc({"n": [2.0, 2.5], "b": b"hi"})
    assert crossed["n"] == [2, 2.5] and type(crossed["n"][0]) is int
    assert isinstance(crossed["b"], memoryview) and bytes(crossed["b"]) == b"hi"


@pytest.mark.parametrize(
    "sent", [{"items": [1]}, {"a": "x", "b": None, "c": True}, ["x", 1, None, False]]
)
def test_cross_rpc_copies_containers(sent: Any) -> None:
    before = repr(sent)
    crossed = cross_rpc(sent)
    assert crossed == sent and crossed is not sent
    if isinstance(crossed, dict):
        crossed["added"] = 1
        if "items" in crossed:
            crossed["items"].append(2)
    else:
        crossed.append("added")
    assert repr(sent) == before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([["set", ("k",)]], r"^operations\[0\]\[1\]: tuple is rejected by RPC conversion$"),
        ({"a": [bytearray(b"x")]}, r"^operations\.a\[0\]: bytearray is rejected"),
        ({"a": {2: 1}}, r"^operations\.a: object key 2 is not a string$"),
        ([{"a": object()}], r"^operations\[0\]\.a: object cannot be cloned across RPC$"),
    ],
)
def test_cross_rpc_names_where_a_value_cannot_cross(value: Any, message: str) -> None:
    with pytest.raises(RpcConversionError, match=message):
        cross_rpc(value, "operations")


def test_decode_json_items_reads_each_text_as_one_value() -> None:
    assert decode_json_items(['{"a":1}', "[1,2]", '"x"', "null"], "entry") == [
        {"a": 1},
        [1, 2],
        "x",
        None,
    ]


@pytest.mark.parametrize("texts", [['{"a":1}', "{oops"], ["1,2"], ["1", ""]])
def test_decode_json_items_refuses_a_text_that_is_not_one_json_value(texts: list[str]) -> None:
    with pytest.raises(ValueError, match="expected JSON-encoded entry"):
        decode_json_items(texts, "entry")
