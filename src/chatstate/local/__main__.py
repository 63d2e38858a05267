"""Start the local runtime: `python -m chatstate.local` (configuration from the environment)."""

from __future__ import annotations

import sys

import uvicorn

from ..config import BotConfig, ConfigError
from ..logs import configure_logging
from .app import LocalRuntime
from .asgi import asgi_app


def main() -> None:
    try:
        config = BotConfig.from_env()
    except ConfigError as error:
        sys.exit(f"configuration error: {error}")
    configure_logging(config.log_level, config.secrets)
    try:
        runtime = LocalRuntime(config)
    except ConfigError as error:
        sys.exit(f"configuration error: {error}")
    app = asgi_app(
        runtime.handle,
        on_startup=runtime.startup,
        on_shutdown=runtime.shutdown,
        websocket=runtime.live.serve,
    )
    # log_config=None: uvicorn's loggers go through the redacting handler like everyone else's.
    uvicorn.run(app, host=config.host, port=config.port, log_config=None)


if __name__ == "__main__":
    main()
