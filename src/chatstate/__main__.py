"""The chatstate command line.

python -m chatstate new PATH      write a new bot project into PATH
python -m chatstate run           serve the bot of the project in this directory locally
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chatstate.project.loading import ProjectError, load_project
from chatstate.project.scaffold import ScaffoldError, new_project


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chatstate")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="write a new bot project")
    new.add_argument("path", type=Path)
    run = commands.add_parser("run", help="serve this project's bot on the local runtime")
    run.add_argument("--project", type=Path, default=Path(), help="the project's directory")
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
        sys.exit(f"chatstate run: {error}")
    # Imported here: `new` must work without the local runtime's packages installed.
    from chatstate.local.serve import serve

    serve(project.setup, project.router)


if __name__ == "__main__":
    main()
