"""Find a bot project's setup and shard router: its `src/bot.py` and `src/sharding.py`."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from chatstate.compose import BotSetup
from chatstate.state.sharding import ShardRouter


class ProjectError(Exception):
    """The directory is not a bot project, or its files do not define what they must."""


@dataclass(frozen=True)
class BotProject:
    setup: BotSetup
    router: ShardRouter


def load_project(directory: Path) -> BotProject:
    """Import `src/bot.py` (which must define `setup(chat)`) and, when it exists,
    `src/sharding.py` (whose `ROUTER` then routes state), as the Worker's entry does."""
    source = directory.resolve() / "src"
    if not (source / "bot.py").is_file():
        raise ProjectError(
            f"no src/bot.py in {directory.resolve()}: run this in a bot project "
            "(`python -m chatstate new PATH` makes one)"
        )
    sys.path.insert(0, str(source))
    bot = importlib.import_module("bot")
    setup = getattr(bot, "setup", None)
    if not callable(setup):
        raise ProjectError(f"{source / 'bot.py'} defines no setup(chat) function")
    if not (source / "sharding.py").is_file():
        return BotProject(setup, ShardRouter())
    router = getattr(importlib.import_module("sharding"), "ROUTER", None)
    if not isinstance(router, ShardRouter):
        raise ProjectError(f"{source / 'sharding.py'} defines no ROUTER = ShardRouter(...)")
    return BotProject(setup, router)
