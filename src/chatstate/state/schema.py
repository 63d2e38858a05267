"""The shard's SQL schema and its forward-only migrations, recorded per shard."""

from __future__ import annotations

from chatstate.ports import Clock, SqlPort

# Every table is WITHOUT ROWID keyed by what the hot path looks up, with no secondary index:
# on Durable Object SQLite each index entry touched is billed as one more row written.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE chat_state_subscriptions (thread_id TEXT PRIMARY KEY) WITHOUT ROWID",
        # A lock row outlives its holder (token and expires_at go NULL on release) because it
        # carries the lock key's fencing number, which must never be handed out twice.
        """CREATE TABLE chat_state_locks (
            thread_id TEXT PRIMARY KEY,
            token TEXT,
            expires_at INTEGER,
            fence INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE chat_state_cache (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            expires_at INTEGER
        ) WITHOUT ROWID""",
        # One expiry per list, and the next sequence number, so an append writes a constant
        # number of rows whatever the list's length.
        """CREATE TABLE chat_state_lists (
            key TEXT PRIMARY KEY,
            expires_at INTEGER,
            next_seq INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE chat_state_list_items (
            key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (key, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE chat_state_queue (
            thread_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            value TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (thread_id, seq)
        ) WITHOUT ROWID""",
        "CREATE TABLE chat_state_metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    ),
    # Conversations with queued work, written in the queue's own transactions (the local
    # runtime's work index; on Cloudflare the parent object keeps its own).
    2: ("CREATE TABLE chat_state_pending_work (queue_key TEXT PRIMARY KEY) WITHOUT ROWID",),
    # Agents (chatstate/conversations): on Cloudflare an agent is a shard of its own; locally
    # many share a file, hence the agent column. Ids are the agent's event sequence numbers.
    3: (
        """CREATE TABLE agent_status (
            agent TEXT PRIMARY KEY,
            next_seq INTEGER NOT NULL,
            thinking INTEGER NOT NULL,
            current_task TEXT,
            last_activity INTEGER NOT NULL,
            total_messages INTEGER NOT NULL,
            active_conversations INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE agent_events (
            agent TEXT NOT NULL,
            seq INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (agent, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE agent_conversations (
            agent TEXT NOT NULL,
            seq INTEGER NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL,
            PRIMARY KEY (agent, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE agent_messages (
            agent TEXT NOT NULL,
            conversation INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (agent, conversation, seq)
        ) WITHOUT ROWID""",
        # Threads of chat platforms keep their facts here too, under the agent ''.
        """CREATE TABLE agent_memory (
            agent TEXT NOT NULL,
            conversation TEXT NOT NULL,
            seq INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (agent, conversation, seq)
        ) WITHOUT ROWID""",
        # Idempotency keys of chat requests: what a retry with the same key gets back.
        """CREATE TABLE agent_requests (
            agent TEXT NOT NULL,
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            user_message INTEGER NOT NULL,
            response TEXT,
            leased_until INTEGER NOT NULL,
            PRIMARY KEY (agent, key)
        ) WITHOUT ROWID""",
    ),
    # The web console's index of conversations (chatstate/console), used in its own shard
    # only; the index orders the list without reading every row.
    4: (
        """CREATE TABLE console_conversations (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            platform TEXT NOT NULL,
            title TEXT NOT NULL,
            last_text TEXT NOT NULL,
            last_activity INTEGER NOT NULL,
            messages INTEGER NOT NULL,
            detail TEXT NOT NULL,
            error TEXT,
            error_at INTEGER
        ) WITHOUT ROWID""",
        "CREATE INDEX console_by_activity ON console_conversations (last_activity, id)",
    ),
    # Scheduled posts (chatstate/chat/schedule.py), in their thread's shard; claimed with a
    # lease while one is being sent, removed once sent.
    5: (
        """CREATE TABLE chat_state_scheduled (
            id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            at INTEGER NOT NULL,
            content TEXT NOT NULL,
            claimed_until INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID""",
        "CREATE INDEX chat_state_scheduled_by_time ON chat_state_scheduled (at)",
    ),
}

LATEST_VERSION = max(MIGRATIONS)


def schema_version(sql: SqlPort) -> int:
    rows = sql.exec("SELECT MAX(version) AS version FROM chat_state_schema")
    version = rows[0]["version"] if rows else None
    return 0 if version is None else int(version)


def migrate(sql: SqlPort, clock: Clock) -> list[int]:
    """Apply every migration newer than the shard's recorded version; return those applied.

    Each migration and its record commit together, so a crash never leaves a half-migrated
    shard, and a migration never runs twice.
    """
    sql.exec(
        "CREATE TABLE IF NOT EXISTS chat_state_schema "
        "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) WITHOUT ROWID"
    )
    applied: list[int] = []
    for version in sorted(MIGRATIONS):

        def apply(version: int = version) -> bool:
            if schema_version(sql) >= version:
                return False
            for statement in MIGRATIONS[version]:
                sql.exec(statement)
            sql.exec(
                "INSERT INTO chat_state_schema (version, applied_at) VALUES (?, ?)",
                version,
                clock(),
            )
            return True

        if sql.transaction(apply):
            applied.append(version)
    return applied
