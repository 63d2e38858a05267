"""Filters that choose which handler runs, composable with `&`, `|` and `~`:

    @router.on_message(filters=[is_dm, text_matches(r"^order \\d+"), ~from_users("U1")])

A filter takes the event (a Message, Action, Reaction...) and says whether it applies."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


class Filter:
    def __init__(self, check: Callable[[Any], bool], name: str) -> None:
        self._check = check
        self.name = name

    def __call__(self, event: Any) -> bool:
        return bool(self._check(event))

    def __and__(self, other: Filter) -> Filter:
        return Filter(lambda e: self(e) and other(e), f"({self.name} & {other.name})")

    def __or__(self, other: Filter) -> Filter:
        return Filter(lambda e: self(e) or other(e), f"({self.name} | {other.name})")

    def __invert__(self) -> Filter:
        return Filter(lambda e: not self(e), f"~{self.name}")

    def __repr__(self) -> str:
        return f"Filter({self.name})"


def _author_id(event: Any) -> str:
    person = getattr(event, "author", None) or getattr(event, "user", None)
    return str(getattr(person, "user_id", ""))


is_dm = Filter(lambda e: bool(getattr(e, "is_dm", False)), "is_dm")
is_mention = Filter(lambda e: bool(getattr(e, "is_mention", False)), "is_mention")


def text_matches(pattern: str) -> Filter:
    """Messages whose text matches `pattern` (re.search)."""
    compiled = re.compile(pattern)
    return Filter(
        lambda e: bool(compiled.search(str(getattr(e, "text", "")))), f"text_matches({pattern!r})"
    )


def from_users(*user_ids: str) -> Filter:
    """Events from these platform user ids."""
    wanted = set(user_ids)
    return Filter(lambda e: _author_id(e) in wanted, f"from_users{tuple(sorted(wanted))}")


def on_platforms(*names: str) -> Filter:
    wanted = set(names)
    return Filter(
        lambda e: getattr(e, "platform", None) in wanted, f"on_platforms{tuple(sorted(wanted))}"
    )
