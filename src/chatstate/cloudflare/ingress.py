"""The ingress Worker: verifies webhooks, then hands accepted updates to the parent object.

Nothing reaches a Durable Object before the request is verified and parsed; the platform gets
its 2xx only once the parent has recorded the update durably. An app exports it as `Default`
from its `src/entry.py`.
"""

from __future__ import annotations

import logging
from typing import Any

from workers import WorkerEntrypoint

from chatstate.chat.events import Inbound, inbound_to_json
from chatstate.cloudflare.conversions import (
    BodyTooLarge,
    WorkersHttpClient,
    bot_config,
    read_request,
    request_to_wire,
    response_from_wire,
    to_response,
    wall_clock_ms,
)
from chatstate.cloudflare.messenger import KV_BINDING
from chatstate.cloudflare.signing import WebCryptoEd25519
from chatstate.compose import build_platforms
from chatstate.config import BotConfig, ConfigError
from chatstate.conversations.agents import AGENT_NAME, agent_shard
from chatstate.http.messages import MAX_BODY_BYTES, HttpRequest, HttpResponse
from chatstate.platforms.base import Platform
from chatstate.platforms.web import web_thread
from chatstate.routes.api.conversation_routes import API_PREFIX
from chatstate.routes.api.live import live_agent
from chatstate.routes.api.thread_posts import thread_of_path
from chatstate.routes.console.auth import session_of
from chatstate.routes.console.routes import console_off, is_console_path, static_asset
from chatstate.routes.webhooks import Ingress

logger = logging.getLogger("chatstate.entry")
MESSENGER_NAME = "bot"
# Built once per isolate for the configuration in force; the ingress only verifies and parses.
_platforms: dict[BotConfig, dict[str, Platform]] = {}


def _platforms_for(config: BotConfig) -> dict[str, Platform]:
    if config not in _platforms:
        _platforms.clear()
        built = build_platforms(config, WorkersHttpClient(), WebCryptoEd25519())
        _platforms[config] = {p.name: p for p in built}
    return _platforms[config]


class IngressWorker(WorkerEntrypoint):  # type: ignore[misc]
    async def fetch(self, request: Any) -> Any:
        try:
            config = bot_config(self.env)
        except ConfigError as error:
            return to_response(HttpResponse.text(500, f"configuration error: {error}\n"))
        if config.state_backend == "kv" and getattr(self.env, KV_BINDING, None) is None:
            return to_response(
                HttpResponse.text(
                    500,
                    f"configuration error: CHAT_STATE=kv needs a KV namespace bound as "
                    f"{KV_BINDING} (the kv_namespaces block in wrangler.jsonc)\n",
                )
            )
        try:
            http_request = await read_request(request)
        except BodyTooLarge:
            return to_response(
                HttpResponse.text(413, f"request body is larger than {MAX_BODY_BYTES} bytes\n")
            )
        if http_request.path.startswith(API_PREFIX):
            return await self._api(request, http_request, config)
        if is_console_path(http_request.path):
            return await self._console(http_request, config)
        platforms = _platforms_for(config)

        async def forward(platform: str, inbound: Inbound) -> None:
            # One parent per bot, or per channel so one busy bot is not one hot object.
            name = MESSENGER_NAME
            if config.messenger_per_channel:
                name = f"{MESSENGER_NAME}:{inbound.events[0].channel_id}"
            await self.env.MESSENGER.getByName(name).accept(platform, inbound_to_json(inbound))

        async def submit(platform: str, inbound: Inbound) -> dict[str, str] | None:
            # A modal's submission is answered in the parent of the thread it came from.
            channel = inbound.events[0].channel_id
            name = f"{MESSENGER_NAME}:{channel}" if config.messenger_per_channel else MESSENGER_NAME
            answer = await self.env.MESSENGER.getByName(name).submit(
                platform, inbound_to_json(inbound)
            )
            errors = answer["errors"]
            return None if errors is None else {str(k): str(v) for k, v in dict(errors).items()}

        ingress = Ingress(platforms, forward, wall_clock_ms, submit)
        return to_response(await ingress.handle(http_request))

    async def _console(self, http_request: HttpRequest, config: BotConfig) -> Any:
        """The web console runs in a parent object: a session's chat box in the parent its
        web thread's messages go to, so its handlers run where they would for a webhook."""
        if config.admin_token is None:
            return to_response(console_off(on_cloudflare=True))
        asset = static_asset(http_request.path)
        if asset is not None:
            return to_response(asset)
        name = MESSENGER_NAME
        session = session_of(http_request, config.admin_token, wall_clock_ms())
        if session is not None and config.messenger_per_channel:
            name = f"{MESSENGER_NAME}:{web_thread(session.id)}"
        try:
            wire = await self.env.MESSENGER.getByName(name).console(request_to_wire(http_request))
        except Exception:
            logger.exception("console request failed")
            return to_response(HttpResponse.text(503, "the console failed; retry later\n"))
        return to_response(response_from_wire(wire))

    async def _api(self, request: Any, http_request: HttpRequest, config: BotConfig) -> Any:
        """The conversation API: the live socket ends in the agent's own shard (hibernatable);
        the other routes run in a parent object per agent, which runs the bot's responder."""
        if config.api_token is None:
            return to_response(
                HttpResponse.json(
                    404,
                    {
                        "error": {
                            "status": 404,
                            "message": "the conversation API is off: set the CHAT_API_TOKEN secret",
                        }
                    },
                )
            )
        agent = live_agent(http_request.path)
        if agent is not None and AGENT_NAME.match(agent):
            return await self.env.STATE_SHARDS.getByName(agent_shard(agent)).fetch(request)
        segments = http_request.path.split("/")
        name = f"api:{segments[3]}" if len(segments) > 3 else "api"
        thread = thread_of_path(http_request.path)
        if thread is not None:
            # A post to a thread runs in the parent its messages go to.
            channel = ":".join(thread.split(":")[:2])
            name = f"{MESSENGER_NAME}:{channel}" if config.messenger_per_channel else MESSENGER_NAME
        try:
            wire = await self.env.MESSENGER.getByName(name).api(request_to_wire(http_request))
        except Exception:
            logger.exception("conversation API request failed")
            return to_response(
                HttpResponse.json(
                    503, {"error": {"status": 503, "message": "the agent failed; retry later"}}
                )
            )
        return to_response(response_from_wire(wire))
