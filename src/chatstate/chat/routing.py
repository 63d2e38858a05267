"""Routers: a bot's handlers, split across modules, with filters and middleware.

    router = Router("orders")

    @router.on_command("order", description="Look up an order")
    async def order(thread, command): ...

    chat.include_router(router)

`Chat` is a Router itself. Which handlers an event reaches, in this order:

1. An edit reaches `on_edited_message` handlers only.
2. A command for this bot reaches the `on_command` handlers of its name, if there are any;
   otherwise it is a message like any other. A command for another bot reaches nothing.
3. A message in a subscribed thread reaches `on_subscribed_message` handlers (when there are
   any); else a direct message `on_direct_message` (or, without any, `on_mention`); else a
   mention `on_mention`; else the `on_message` handlers whose pattern and filters match.
4. Actions, reactions, membership changes and other updates reach their own handlers, chosen
   by action id, emoji or update kind.

Within a kind, every matching handler runs, in registration order: a router's own handlers,
then those of the routers it includes, in the order they were included, depth first. A
handler's filters must all pass. Middleware of a router wraps every handler of that router
and of the routers below it, outermost first, and may stop an event by not calling on.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chatstate.chat.events import Message
from chatstate.chat.filters import Filter

HandlerFn = Callable[..., Awaitable[Any]]
# (handler, event, context): call `await handler(event, context)` to go on, or return to stop.
Middleware = Callable[[Callable[[Any, "Context"], Awaitable[Any]], Any, "Context"], Awaitable[Any]]
Decorator = Callable[[HandlerFn], HandlerFn]


@dataclass
class Context:
    """What a handler may want beyond its event: the messages it stands for, and values
    middleware put in `data` (a user's language, say)."""

    skipped: list[Message] = field(default_factory=list)
    total_since_last_handler: int = 1
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """`/name args`: what `on_command` handlers receive."""

    name: str
    args: str
    message: Message

    async def open_modal(self, modal: Any, context: Any = None) -> None:
        """Open a form (Slack, the console); see chatstate.chat.content.Modal."""
        await open_modal_for(self, modal, context)


async def open_modal_for(event: Any, modal: Any, context: Any) -> None:
    opener = getattr(event, "_open_modal", None)
    if opener is None:
        raise RuntimeError("open a modal from the handler its button press or command reached")
    await opener(modal, context)


@dataclass(frozen=True)
class Handler:
    kind: str
    fn: HandlerFn
    wants_context: bool
    key: str | None = None
    pattern: re.Pattern[str] | None = None
    filters: tuple[Filter, ...] = ()
    emojis: frozenset[str] | None = None
    description: str = ""

    def accepts(self, event: Any) -> bool:
        return all(check(event) for check in self.filters)


def _wants_context(fn: HandlerFn) -> bool:
    return len(inspect.signature(fn).parameters) >= 3


def _filters(filters: Iterable[Filter]) -> tuple[Filter, ...]:
    checked = tuple(filters)
    for check in checked:
        if not callable(check):
            raise TypeError(f"a filter is callable (event) -> bool, not {check!r}")
    return checked


class Router:
    def __init__(self, name: str = "") -> None:
        self.name = name or f"router-{id(self):x}"
        self._handlers: list[Handler] = []
        self._routers: list[Router] = []
        self._middleware: list[Middleware] = []
        self._included_in: Router | None = None

    # --- registering -------------------------------------------------------------------------

    def _add(self, kind: str, fn: HandlerFn, **options: Any) -> HandlerFn:
        if not callable(fn):
            raise TypeError(f"a {kind} handler is an async function, not {fn!r}")
        self._handlers.append(Handler(kind, fn, _wants_context(fn), **options))
        return fn

    def on_mention(self, fn: HandlerFn) -> HandlerFn:
        """Messages that mention the bot in a thread it is not subscribed to (and DMs, unless
        there is an on_direct_message handler): `handler(thread, message[, context])`."""
        return self._add("mention", fn)

    def on_direct_message(self, fn: HandlerFn) -> HandlerFn:
        return self._add("direct", fn)

    def on_subscribed_message(self, fn: HandlerFn) -> HandlerFn:
        """Every message in a thread the bot subscribed to (`await thread.subscribe()`)."""
        return self._add("subscribed", fn)

    def on_edited_message(self, fn: HandlerFn) -> HandlerFn:
        """A new version of a message seen before; edits reach no other handler."""
        return self._add("edited", fn)

    def on_message(
        self, pattern: str | None = None, *, filters: Iterable[Filter] = ()
    ) -> Decorator:
        """Messages in unsubscribed threads that mention nobody, whose text matches `pattern`
        (re.search) and every filter."""
        compiled = None if pattern is None else re.compile(pattern)
        checks = _filters(filters)
        return lambda fn: self._add("message", fn, pattern=compiled, filters=checks)

    def on_action(
        self, action_id: str | None = None, *, filters: Iterable[Filter] = ()
    ) -> Decorator:
        """Button presses and menu choices: `handler(thread, action)`; None: every action id."""
        checks = _filters(filters)
        return lambda fn: self._add("action", fn, key=action_id, filters=checks)

    def on_command(self, name: str, description: str = "") -> Decorator:
        """`/name args` for this bot: `handler(thread, command)` with command.name, .args and
        .message. Telegram, Slack slash commands and the console's chat box alike."""
        if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
            raise ValueError(f"a command name is 1-32 of a-z, 0-9 and _ (as Telegram's): {name!r}")
        return lambda fn: self._add("command", fn, key=name, description=description)

    def on_reaction(self, emojis: Iterable[str] | None = None) -> Decorator:
        """Reactions added or removed: `handler(thread, reaction)` with .added, .emoji, .user
        and .message_id; `emojis` limits it to those."""
        wanted = None if emojis is None else frozenset(emojis)
        return lambda fn: self._add("reaction", fn, emojis=wanted)

    def on_member_joined(self, fn: HandlerFn) -> HandlerFn:
        return self._add("member_joined", fn)

    def on_bot_added(self, fn: HandlerFn) -> HandlerFn:
        return self._add("bot_added", fn)

    def on_bot_removed(self, fn: HandlerFn) -> HandlerFn:
        """The bot left or was removed; its subscription to the chat ends after this runs."""
        return self._add("bot_removed", fn)

    def on_update(self, kind: str | None = None) -> Decorator:
        """Updates nothing else models, raw: `handler(thread, update)` with .kind and .raw
        (a Telegram update field such as "poll", a Slack event type such as "channel_rename")."""
        return lambda fn: self._add("update", fn, key=kind)

    def on_modal_submit(self, callback_id: str) -> Decorator:
        """A modal's form sent: `handler(thread, submission)` with .values (by input id) and
        .context (what open_modal kept); return {input id: error} to show errors in the form
        (Slack, the console), or None to close it."""
        return lambda fn: self._add("modal_submit", fn, key=callback_id)

    def on_modal_close(self, callback_id: str) -> Decorator:
        """A modal dismissed without sending: `handler(thread, submission)`."""
        return lambda fn: self._add("modal_close", fn, key=callback_id)

    def middleware(self, fn: Middleware) -> Middleware:
        """Wraps every handler of this router and those it includes: `async def mw(handler,
        event, context)` calls `await handler(event, context)` to go on."""
        if not callable(fn):
            raise TypeError(f"middleware is an async function, not {fn!r}")
        self._middleware.append(fn)
        return fn

    def include_router(self, router: Router) -> Router:
        if not isinstance(router, Router):
            raise TypeError(f"include_router takes a Router, not {type(router).__name__}")
        if router._included_in is not None:
            raise ValueError(
                f"router {router.name!r} is already included in {router._included_in.name!r}: "
                "a router is included once"
            )
        ancestor: Router | None = self
        while ancestor is not None:
            if ancestor is router:
                raise ValueError(f"including router {router.name!r} here would be a cycle")
            ancestor = ancestor._included_in
        router._included_in = self
        self._routers.append(router)
        return router

    # --- choosing ----------------------------------------------------------------------------

    def handlers(self, kind: str) -> list[tuple[Handler, list[Middleware]]]:
        """Every handler of `kind`, in the documented order, with the middleware around it."""
        return list(self._walk(kind, []))

    def _walk(
        self, kind: str, outer: list[Middleware]
    ) -> Iterable[tuple[Handler, list[Middleware]]]:
        chain = [*outer, *self._middleware]
        for handler in self._handlers:
            if handler.kind == kind:
                yield handler, chain
        for router in self._routers:
            yield from router._walk(kind, chain)

    def commands(self) -> list[tuple[str, str]]:
        """(name, description) of every command, once each, in registration order."""
        seen: dict[str, str] = {}
        for handler, _ in self.handlers("command"):
            assert handler.key is not None
            seen.setdefault(handler.key, handler.description)
        return list(seen.items())


async def call_handler(
    handler: Handler,
    middleware: list[Middleware],
    event: Any,
    context: Context,
    run: Callable[[Any, Context], Awaitable[Any]],
) -> Any:
    """Run one handler through its middleware, outermost first."""
    call = run
    for wrap in reversed(middleware):

        def layer(
            event: Any, context: Context, wrap: Middleware = wrap, inner: Any = call
        ) -> Awaitable[Any]:
            return wrap(inner, event, context)

        call = layer
    return await call(event, context)
