"""`python -m chatstate new PATH`: a bot project that depends on this version of chatstate."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import chatstate

TEMPLATE = resources.files("chatstate.project") / "template"
# A template's path in the project: `gitignore.tmpl` would be left out of a wheel as a dot file.
RENAMED = {"gitignore": ".gitignore"}


class ScaffoldError(Exception):
    pass


def project_name(path: Path) -> str:
    """A distribution and Worker name from the directory's name: lowercase letters, digits, -."""
    name = re.sub(r"[^a-z0-9]+", "-", path.resolve().name.lower()).strip("-")
    return name or "chat-bot"


def new_project(path: Path) -> list[Path]:
    """Write the project's files into `path` (created when missing; refused when not empty)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ScaffoldError(
            f"{path} is not an empty directory: choose a new path, or empty this one first"
        )
    name = project_name(path)
    written = []
    for source, relative in _template_files():
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        text = text.replace("__NAME__", name).replace("__VERSION__", chatstate.__version__)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def _template_files() -> list[tuple[resources.abc.Traversable, Path]]:
    found = []
    pending = [(TEMPLATE, Path())]
    while pending:
        folder, relative = pending.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                pending.append((entry, relative / entry.name))
            elif entry.name.endswith(".tmpl"):
                stem = entry.name.removesuffix(".tmpl")
                found.append((entry, relative / RENAMED.get(stem, stem)))
    return sorted(found, key=lambda pair: str(pair[1]))
