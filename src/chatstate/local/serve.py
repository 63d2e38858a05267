"""Serve a bot on the local runtime (`python -m chatstate run`), configured by the environment."""

from __future__ import annotations

import dataclasses
import secrets
import sys

import uvicorn

from chatstate.compose import BotSetup
from chatstate.config import BotConfig, ConfigError
from chatstate.local.app import LocalRuntime
from chatstate.local.asgi import asgi_app
from chatstate.logs import configure_logging
from chatstate.state.sharding import ShardRouter


def serve(setup: BotSetup, router: ShardRouter | None = None) -> None:
    """Run the bot's `setup` on loopback until stopped. A start that cannot complete (a wrong
    configuration, a data directory that cannot be used, state that cannot be read) stops
    with the cause's traceback and a one-line reason, and a non-zero exit status."""
    try:
        config = BotConfig.from_env()
    except ConfigError as error:
        sys.exit(f"configuration error: {error}")
    made_token = config.admin_token is None
    if made_token:
        # As notebook servers do: a fresh token per start, printed once in the console's URL.
        config = dataclasses.replace(config, admin_token=secrets.token_urlsafe(24))
    configure_logging(config.log_level, config.secrets)
    try:
        runtime = LocalRuntime(config, setup, router)
    except ConfigError as error:
        sys.exit(f"configuration error: {error}")
    except OSError as error:
        sys.exit(f"chatstate run: cannot use CHAT_DATA_DIR {config.data_dir}: {error.strerror}")
    app = asgi_app(
        runtime.handle,
        on_startup=runtime.startup,
        on_shutdown=runtime.shutdown,
        websocket=runtime.live.serve,
    )
    print(console_banner(config, made_token), flush=True)
    # log_config=None: uvicorn's loggers go through the redacting handler like everyone else's.
    # lifespan="on": a failed startup stops the server with its cause and exit status 3
    # (uvicorn's "auto" would log that lifespan looks unsupported and serve anyway).
    uvicorn.run(app, host=config.host, port=config.port, log_config=None, lifespan="on")


def console_banner(config: BotConfig, made_token: bool) -> str:
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    url = f"http://{host}:{config.port}/"
    if made_token:
        return f"Bot console: {url}?token={config.admin_token}\n(open it to sign in)"
    return f"Bot console: {url} (sign in with CHAT_ADMIN_TOKEN)"
