"""The ingress Worker: verifies webhooks, then hands accepted updates to the parent object.

Nothing reaches a Durable Object before the request is verified and parsed; the platform gets
its 2xx only once the parent has recorded the update durably.
"""

from __future__ import annotations

from typing import Any

from workers import WorkerEntrypoint

from chatstate.bot_setup import build_platforms
from chatstate.chat.events import Inbound, inbound_to_json
from chatstate.config import BotConfig, ConfigError
from chatstate.http import MAX_BODY_BYTES, HttpResponse
from chatstate.ingress import Ingress
from cloudflare_io import (
    BodyTooLarge,
    WorkersHttpClient,
    env_values,
    read_request,
    to_response,
    wall_clock_ms,
)
from messenger import ChatMessenger
from state_agent import ChatSdkStateAgent

__all__ = ["ChatMessenger", "ChatSdkStateAgent", "Default"]

MESSENGER_NAME = "bot"


class Default(WorkerEntrypoint):  # type: ignore[misc]
    async def fetch(self, request: Any) -> Any:
        try:
            config = BotConfig.from_env(env_values(self.env))
        except ConfigError as error:
            return to_response(HttpResponse.text(500, f"configuration error: {error}\n"))
        try:
            http_request = await read_request(request)
        except BodyTooLarge:
            return to_response(
                HttpResponse.text(413, f"request body is larger than {MAX_BODY_BYTES} bytes\n")
            )
        platforms = {p.name: p for p in build_platforms(config, WorkersHttpClient())}

        async def forward(platform: str, inbound: Inbound) -> None:
            # One parent per bot, or per channel so one busy bot is not one hot object.
            name = MESSENGER_NAME
            if config.messenger_per_channel:
                name = f"{MESSENGER_NAME}:{inbound.events[0].channel_id}"
            await self.env.MESSENGER.getByName(name).accept(platform, inbound_to_json(inbound))

        ingress = Ingress(platforms, forward, wall_clock_ms)
        return to_response(await ingress.handle(http_request))
