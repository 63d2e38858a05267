"""Reactions by emoji: Telegram takes the emoji itself, Slack a name. Either may be given."""

from __future__ import annotations

# The reactions both platforms offer, by Slack name.
NAMES = {
    "👍": "+1",
    "👎": "-1",
    "❤": "heart",
    "🔥": "fire",
    "🎉": "tada",
    "👀": "eyes",
    "😂": "joy",
    "😢": "cry",
    "🙏": "pray",
    "👏": "clap",
    "🤔": "thinking_face",
    "💯": "100",
    "⚡": "zap",
    "🏆": "trophy",
    "✍": "writing_hand",
}
EMOJI = {name: emoji for emoji, name in NAMES.items()} | {"thumbsup": "👍", "thumbsdown": "👎"}


def as_emoji(reaction: str) -> str:
    """The emoji for a reaction given as an emoji or a Slack name (`:tada:` or `tada`)."""
    bare = reaction.strip(":").removesuffix("\ufe0f")
    if bare in NAMES:
        return bare
    if bare in EMOJI:
        return EMOJI[bare]
    raise ValueError(f"unknown reaction {reaction!r}: use one of {' '.join(NAMES)}")


def as_name(reaction: str) -> str:
    """The Slack name for a reaction given as an emoji or a name."""
    bare = reaction.strip(":").removesuffix("\ufe0f")
    if bare in NAMES:
        return NAMES[bare]
    if (
        bare
        and bare.replace("_", "").replace("-", "").replace("+", "").isalnum()
        and bare.isascii()
    ):
        return bare
    raise ValueError(
        f"unknown reaction {reaction!r}: use a Slack emoji name or one of {' '.join(NAMES)}"
    )
