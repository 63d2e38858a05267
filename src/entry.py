"""The ingress Worker: the Default entrypoint, and every Durable Object class it exports."""

from __future__ import annotations

from typing import Any

from workers import Response, WorkerEntrypoint

from state_agent import ChatSdkStateAgent

__all__ = ["ChatSdkStateAgent", "Default"]


class Default(WorkerEntrypoint):  # type: ignore[misc]
    async def fetch(self, request: Any) -> Any:
        return Response.json({"ok": True})
