"""Values the state stores: JSON values only, checked before anything is written."""

from __future__ import annotations

import json
import math
from typing import Any

JsonValue = Any

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class _NotJson(Exception):
    """Raised deep inside a value; each level on the way out adds its part of the path, so the
    values that pass (every write) never pay for building paths."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        self.path: list[str] = []


def encode_json(value: JsonValue, label: str) -> str:
    """JSON text for value, or TypeError naming what is not a JSON value and where."""
    try:
        _check_json(value)
    except _NotJson as refused:
        where = label + "".join(reversed(refused.path))
        raise TypeError(f"{where}: {refused.problem}") from None
    return _encoder.encode(value)


def decode_json(text: str, label: str) -> JsonValue:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as error:
        raise ValueError(f"expected JSON-encoded {label}") from error


def decode_json_items(texts: list[str], label: str) -> list[JsonValue]:
    """Many JSON texts at once: one parse of them joined as an array, which costs an eighth of
    parsing each (a history read decodes up to its whole length). The texts are the store's
    own, each written by encode_json; should the joined parse fail or count differently, the
    item-by-item parse names the text that is not JSON."""
    try:
        items: list[JsonValue] = json.loads("[" + ",".join(texts) + "]")
    except (TypeError, ValueError):
        pass  # one of them is not JSON text: the item-by-item parse says which
    else:
        if len(items) == len(texts):
            return items
    return [decode_json(text, label) for text in texts]


def _check_json(value: JsonValue) -> None:
    # bool is an int subclass; both are fine. Tuples, sets, bytes, objects are not JSON values:
    # silently turning them into lists or strings would store something the caller did not pass.
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return
    if isinstance(value, str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJson(f"{value!r} is not a JSON value (JSON has no NaN or infinity)")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            try:
                _check_json(item)
            except _NotJson as refused:
                refused.path.append(f"[{index}]")
                raise
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotJson(f"object key {key!r} is not a string")
            try:
                _check_json(item)
            except _NotJson as refused:
                refused.path.append(f".{key}")
                raise
        return
    raise _NotJson(f"{type(value).__name__} is not a JSON value")
