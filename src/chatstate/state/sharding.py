"""Which shard (one ChatSdkStateAgent Durable Object, or one SQLite file locally) holds a key.

Routing follows the reference adapter (`agents/chat-sdk`, section 4.3 of the reference notes),
with one deliberate change: `dedupe:<adapter>:<rest>` keys live with their chat instead of
all landing in the default shard, so no single shard sees every message of every chat. One key
prefix is added: `thread-last-error:`, the console's record of a thread's last failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ShardForThread = Callable[[str], str]
ShardForKey = Callable[[str], "str | None"]

# Checked in this order, as the reference does.
THREAD_ROUTED_KEY_PREFIXES = (
    "thread-state:",
    "channel-state:",
    "msg-history:",
    "transcripts:user:",
    # Not the reference's: a thread's last handler error (chatstate/console), beside its state.
    "thread-last-error:",
)
DEDUPE_PREFIX = "dedupe:"


def default_thread_shard(thread_id: str) -> str:
    """The first two `:` segments of a thread id; the literal "default" for an empty result."""
    shard = ":".join(thread_id.split(":")[:2])
    # The reference hard-codes "default" here, independent of the router's configured name.
    return shard or "default"


def default_key_shard(key: str, shard_thread: ShardForThread = default_thread_shard) -> str | None:
    """The shard for a recognised key prefix, or None when the key has no natural home."""
    for prefix in THREAD_ROUTED_KEY_PREFIXES:
        if key.startswith(prefix):
            return shard_thread(key[len(prefix) :])
    if key.startswith(DEDUPE_PREFIX):
        adapter, sep, rest = key[len(DEDUPE_PREFIX) :].partition(":")
        if sep and adapter and rest:
            return shard_thread(f"{adapter}:{rest.split(':', 1)[0]}")
    return None


@dataclass(frozen=True)
class ShardRouter:
    """Maps thread ids and state keys to shard names, with the reference's hook precedence.

    `shard_key` maps thread ids (locks, queues, subscriptions) and is also used for the
    recognised key prefixes; `key_shard` overrides key routing when it returns a name.
    """

    name: str = "default"
    shard_key: ShardForThread | None = None
    key_shard: ShardForKey | None = None

    def for_thread(self, thread_id: str) -> str:
        if not thread_id:
            return self.name
        return (self.shard_key or default_thread_shard)(thread_id)

    def for_key(self, key: str) -> str:
        if self.key_shard is not None:
            custom = self.key_shard(key)
            # Nullish semantics, as the reference: an empty string is a real shard name.
            if custom is not None:
                return custom
        routed = default_key_shard(key, self.shard_key or default_thread_shard)
        return self.name if routed is None else routed
