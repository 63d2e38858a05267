"""The chatstate command line.

python -m chatstate new PATH      write a new bot project into PATH
python -m chatstate run           serve the bot of the project in this directory locally
python -m chatstate telegram set-commands     push the bot's commands to Telegram's menu
python -m chatstate discord register-commands register them as Discord slash commands
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from chatstate.compose import BotSetup
from chatstate.platforms.base import PlatformApiError
from chatstate.project.loading import ProjectError, load_project
from chatstate.project.scaffold import ScaffoldError, new_project


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chatstate")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="write a new bot project")
    new.add_argument("path", type=Path)
    run = commands.add_parser("run", help="serve this project's bot on the local runtime")
    run.add_argument("--project", type=Path, default=Path(), help="the project's directory")
    telegram = commands.add_parser("telegram", help="Telegram setup")
    telegram_commands = telegram.add_subparsers(dest="telegram_command", required=True)
    set_commands = telegram_commands.add_parser(
        "set-commands", help="push the bot's commands to Telegram (setMyCommands)"
    )
    set_commands.add_argument("--project", type=Path, default=Path())
    discord = commands.add_parser("discord", help="Discord setup")
    discord_commands = discord.add_subparsers(dest="discord_command", required=True)
    register = discord_commands.add_parser(
        "register-commands", help="register the bot's commands as Discord slash commands"
    )
    register.add_argument("--project", type=Path, default=Path())
    arguments = parser.parse_args(argv)
    if arguments.command == "new":
        try:
            written = new_project(arguments.path)
        except ScaffoldError as error:
            sys.exit(f"chatstate new: {error}")
        print(f"wrote {len(written)} files into {arguments.path}; next: see its README.md")
        return
    try:
        project = load_project(arguments.project)
    except ProjectError as error:
        sys.exit(f"chatstate {arguments.command}: {error}")
    if arguments.command == "telegram":
        sys.exit(asyncio.run(_push_commands(project.setup, "telegram")))
    if arguments.command == "discord":
        sys.exit(asyncio.run(_push_commands(project.setup, "discord")))
    # Imported here: `new` must work without the local runtime's packages installed.
    from chatstate.local.serve import serve

    serve(project.setup, project.router)


async def _push_commands(setup: BotSetup, platform: str) -> str | None:
    """Push the bot's commands to `platform`'s menu; an error line, or None once done."""
    from chatstate.config import BotConfig, ConfigError
    from chatstate.local.http11_client import Http11Client
    from chatstate.project.commands import (
        bot_commands,
        register_discord_commands,
        set_telegram_commands,
    )

    push, name, done = {
        "telegram": (set_telegram_commands, "telegram set-commands", "Telegram's menu lists"),
        "discord": (register_discord_commands, "discord register-commands", "Discord offers"),
    }[platform]
    try:
        config = BotConfig.from_env()
    except ConfigError as error:
        return f"configuration error: {error}"
    http = Http11Client()
    try:
        count = await push(setup, config, http)
    except (ValueError, PlatformApiError) as error:
        return f"chatstate {name}: {error}"
    finally:
        await http.close()
    names = ", ".join(f"/{command}" for command, _ in bot_commands(setup)) or "none"
    print(f"{done} {count} command(s) now: {names}")
    return None


if __name__ == "__main__":
    main()
