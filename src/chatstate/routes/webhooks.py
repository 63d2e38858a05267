"""The webhook routes, the same on Cloudflare and locally: verify, parse, accept, answer.

Nothing reaches state before the request is verified and parsed; the 200 goes out only after
the update is recorded durably.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping

from chatstate.chat.events import Inbound
from chatstate.http.messages import MAX_BODY_BYTES, HttpRequest, HttpResponse
from chatstate.platforms.base import Platform, WebhookRejected
from chatstate.ports import Clock

logger = logging.getLogger("chatstate.routes.webhooks")

Accept = Callable[[str, Inbound], Awaitable[None]]
# Runs a modal submission's handlers at once; their field errors, or None.
Submit = Callable[[str, Inbound], Awaitable["dict[str, str] | None"]]
WEBHOOK_PREFIX = "/webhooks/"
KNOWN_PLATFORMS = {
    "telegram": "set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET",
    "slack": "set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN",
    "github": "set GITHUB_WEBHOOK_SECRET, GITHUB_BOT_LOGIN and GITHUB_TOKEN (or a GitHub App)",
    "discord": "set DISCORD_PUBLIC_KEY and DISCORD_APPLICATION_ID",
    "whatsapp": (
        "set WHATSAPP_VERIFY_TOKEN, WHATSAPP_APP_SECRET, WHATSAPP_ACCESS_TOKEN and "
        "WHATSAPP_PHONE_NUMBER_ID"
    ),
}


class Ingress:
    def __init__(
        self,
        platforms: Mapping[str, Platform],
        accept: Accept,
        clock: Clock,
        submit: Submit | None = None,
    ) -> None:
        self._platforms = platforms
        self._accept = accept
        self._clock = clock
        self._submit = submit

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/health":
            if request.method not in ("GET", "HEAD"):
                return HttpResponse.text(405, "use GET\n", allow="GET")
            return HttpResponse.json(200, {"ok": True, "platforms": sorted(self._platforms)})
        if not request.path.startswith(WEBHOOK_PREFIX):
            return HttpResponse.text(404, f"no route for {request.path}\n")
        name = request.path[len(WEBHOOK_PREFIX) :]
        platform = self._platforms.get(name)
        if platform is None:
            hint = KNOWN_PLATFORMS.get(name)
            detail = f": {name} is not configured ({hint})" if hint else ""
            return HttpResponse.text(404, f"no route for {request.path}{detail}\n")
        handshake = getattr(platform, "handshake", None)
        if request.method == "GET" and handshake is not None:
            # A platform that checks the URL before delivering to it (WhatsApp's hub.challenge).
            answer: HttpResponse = handshake(request)
            return answer
        if request.method != "POST":
            allowed = "GET, POST" if handshake is not None else "POST"
            return HttpResponse.text(405, "webhooks are POSTed\n", allow=allowed)
        if len(request.body) > MAX_BODY_BYTES:
            return HttpResponse.text(413, f"request body is larger than {MAX_BODY_BYTES} bytes\n")
        try:
            checked = platform.verify(request, self._clock())
            if inspect.isawaitable(checked):
                # A check the runtime does asynchronously (Discord's Ed25519, WebCrypto's).
                await checked
            parsed = platform.parse(request)
        except WebhookRejected as rejected:
            return rejected.response
        if isinstance(parsed, HttpResponse):
            return parsed
        logger.debug("%s delivery %s: %d event(s)", name, parsed.delivery_id, len(parsed.events))
        if parsed.answered_by_handler and parsed.events and self._submit is not None:
            try:
                errors = await self._submit(name, parsed)
            except Exception:
                logger.exception("a %s modal submission failed", name)
                return HttpResponse.text(503, "the submission failed; retry later\n")
            return platform.modal_answer(errors)
        if parsed.events:
            try:
                await self._accept(name, parsed)
            except Exception:
                # Not answering 2xx makes the platform retry; dedupe makes the retry safe.
                logger.exception("could not record a %s update", name)
                return HttpResponse.text(503, "could not record the update; retry later\n")
        # A JSON acknowledgement is an answer the platform reads (Discord's deferral).
        kind = "application/json" if parsed.acknowledgement.startswith(b"{") else "text/plain"
        return HttpResponse(200, parsed.acknowledgement, {"content-type": f"{kind}; charset=utf-8"})
