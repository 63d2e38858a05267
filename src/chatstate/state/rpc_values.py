"""What survives a Durable Object RPC call, modelled for the local runtime and the tests.

Mirrors the workers SDK's python_to_rpc / python_from_rpc (platform notes, section 1.4):
tuples and bytearrays are rejected before sending, even nested; class instances fail to clone;
a float with no fraction comes back as an int; bytes come back as memoryview. Crossing this
boundary locally makes a value that would break on Cloudflare break here too.
"""

from __future__ import annotations

from typing import Any


class RpcConversionError(TypeError):
    """A value that Durable Object RPC would refuse to carry."""


# Carried as they are. Checked for a whole container at once by `issuperset(map(type, ...))`,
# which runs in C: most operations and replies hold nothing else.
_PLAIN = frozenset({str, int, bool, type(None)})


class _Refused(Exception):
    """Raised deep inside a value; each level on the way out adds its part of the path, so a
    value that crosses (nearly all of them, every shard call) never pays for building paths."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        self.path: list[str] = []


def cross_rpc(value: Any, path: str = "value") -> Any:
    """The value as the other side of an RPC call receives it, or RpcConversionError."""
    try:
        return _cross(value)
    except _Refused as refused:
        where = path + "".join(reversed(refused.path))
        raise RpcConversionError(f"{where}: {refused.problem}") from None


def _cross(value: Any) -> Any:
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, str | int):
        return value
    if isinstance(value, tuple | bytearray):
        raise _Refused(f"{type(value).__name__} is rejected by RPC conversion")
    if isinstance(value, bytes | memoryview):
        return memoryview(bytes(value))
    if kind is list and _PLAIN.issuperset(map(type, value)):
        return list(value)
    if (
        kind is dict
        and _PLAIN.issuperset(map(type, value.values()))
        and {str}.issuperset(map(type, value))
    ):
        return dict(value)
    if isinstance(value, list):
        crossed_items = []
        for index, item in enumerate(value):
            try:
                crossed_items.append(_cross(item))
            except _Refused as refused:
                refused.path.append(f"[{index}]")
                raise
        return crossed_items
    if isinstance(value, dict):
        crossed: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Refused(f"object key {key!r} is not a string")
            try:
                crossed[key] = _cross(item)
            except _Refused as refused:
                refused.path.append(f".{key}")
                raise
        return crossed
    if isinstance(value, set):
        try:
            return {_cross(item) for item in value}
        except _Refused as refused:
            refused.path.append("{}")
            raise
    raise _Refused(f"{type(value).__name__} cannot be cloned across RPC")
