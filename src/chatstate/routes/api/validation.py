"""Checks on API input: every error names what is wrong and carries its HTTP status."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from chatstate.http.messages import HttpResponse
from chatstate.state.agent_tables import MAX_CONTENT_BYTES

MAX_TEXT_BYTES = MAX_CONTENT_BYTES
MAX_METADATA_BYTES = 16 * 1024
MAX_API_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def response(self, **headers: str) -> HttpResponse:
        error: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        response = HttpResponse.json(self.status, {"error": error})
        response.headers.update(headers)
        return response


def json_object(
    body: bytes, allowed: Iterable[str], max_bytes: int = MAX_API_BODY_BYTES
) -> dict[str, Any]:
    """The body as a JSON object with no field outside `allowed`."""
    if len(body) > max_bytes:
        raise ApiError(413, f"request body is larger than {max_bytes} bytes")
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"the body must be a JSON object, not {type(value).__name__}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ApiError(422, f"unknown field {unknown[0]!r}", unknown[0])
    return value


def text_field(
    body: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    max_bytes: int = 1024,
    choices: Iterable[str] | None = None,
) -> str | None:
    if name not in body or body[name] is None:
        if required:
            raise ApiError(422, f"{name} is required", name)
        return None
    value = body[name]
    if not isinstance(value, str):
        raise ApiError(422, f"{name} must be a string, not {type(value).__name__}", name)
    if required and not value.strip():
        raise ApiError(422, f"{name} must not be empty", name)
    if len(value.encode()) > max_bytes:
        raise ApiError(413, f"{name} is larger than {max_bytes} bytes", name)
    if choices is not None and value not in choices:
        raise ApiError(422, f"{name} must be one of {', '.join(choices)}, not {value!r}", name)
    return value


def metadata_field(body: dict[str, Any], name: str = "metadata") -> Any:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise ApiError(422, f"{name} must be a JSON object", name)
    if len(json.dumps(value).encode()) > MAX_METADATA_BYTES:
        raise ApiError(413, f"{name} is larger than {MAX_METADATA_BYTES} bytes", name)
    return value


def int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, f"query parameter {name} must be a whole number from {low} to {high}")
    return int(raw)
