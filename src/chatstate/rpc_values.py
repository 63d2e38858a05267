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


def cross_rpc(value: Any, path: str = "value") -> Any:
    """The value as the other side of an RPC call receives it, or RpcConversionError."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, tuple | bytearray):
        raise RpcConversionError(f"{path}: {type(value).__name__} is rejected by RPC conversion")
    if isinstance(value, bytes | memoryview):
        return memoryview(bytes(value))
    if isinstance(value, list):
        return [cross_rpc(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        crossed: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise RpcConversionError(f"{path}: object key {key!r} is not a string")
            crossed[key] = cross_rpc(item, f"{path}.{key}")
        return crossed
    if isinstance(value, set):
        return {cross_rpc(item, f"{path}{{}}") for item in value}
    raise RpcConversionError(f"{path}: {type(value).__name__} cannot be cloned across RPC")
