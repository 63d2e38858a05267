"""Values the state stores: JSON values only, checked before anything is written."""

from __future__ import annotations

import json
import math
from typing import Any

JsonValue = Any


def encode_json(value: JsonValue, label: str) -> str:
    """JSON text for value, or TypeError naming what is not a JSON value and where."""
    _check_json(value, label)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def decode_json(text: str, label: str) -> JsonValue:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as error:
        raise ValueError(f"expected JSON-encoded {label}") from error


def _check_json(value: JsonValue, path: str) -> None:
    # bool is an int subclass; both are fine. Tuples, sets, bytes, objects are not JSON values:
    # silently turning them into lists or strings would store something the caller did not pass.
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{path}: {value!r} is not a JSON value (JSON has no NaN or infinity)")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: object key {key!r} is not a string")
            _check_json(item, f"{path}.{key}")
        return
    raise TypeError(f"{path}: {type(value).__name__} is not a JSON value")
