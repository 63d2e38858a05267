"""Which shard (one ChatSdkStateAgent Durable Object, or one SQLite file locally) holds a key.

The defaults keep each chat's state together: a thread id's first two `:` segments name its
shard (`telegram:-100123:456` -> `telegram:-100123`), and keys that start with `thread-state:`,
`channel-state:`, `msg-history:`, `transcripts:user:` or `dedupe:` follow their thread.
Change the hooks before you deploy: state already written stays in the shard it was written to.
"""

from chatstate import ShardRouter, default_thread_shard


def shard_key(thread_id: str) -> str:
    """The shard of a thread's lock, queue, subscription and state."""
    return default_thread_shard(thread_id)


def key_shard(key: str) -> str | None:
    """The shard of a state key; None keeps the default (a thread's keys go with it)."""
    return None


ROUTER = ShardRouter(shard_key=shard_key, key_shard=key_shard)
