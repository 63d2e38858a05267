"""Start the local runtime: `python -m chatstate.local` (configuration from the environment)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from ..config import BotConfig, ConfigError
from .app import LocalRuntime
from .asgi import asgi_app


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = BotConfig.from_env()
    except ConfigError as error:
        sys.exit(f"configuration error: {error}")
    runtime = LocalRuntime(config)
    app = asgi_app(runtime.handle, on_startup=runtime.startup, on_shutdown=runtime.shutdown)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info")


if __name__ == "__main__":
    main()
