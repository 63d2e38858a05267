"""An agent's tables, changed only by these operations, each inside its shard's transaction.

Every change appends to the agent's event log in the same transaction, with the agent's next
sequence number, and is handed to the shard's live sockets once it has committed. Rows keep
their fields as one JSON object; ids carry the sequence number of the event that made them,
so they are unique per agent and sort in creation order.

An operation's outcome the API must tell apart (unknown conversation, conflict) comes back as
a value, `{"missing": ...}` or `{"conflict": ...}`, so that nothing is written and the batch
still commits what came before it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

from chatstate.ports import SqlValue
from chatstate.state.operands import integer, text

# Message content and a memory fact; the API answers 413 before a shard would refuse one.
MAX_CONTENT_BYTES = 32 * 1024
# An assistant's reply is the bot's own output, not input: a 32 KiB question may well get a
# longer answer ("You said: ..." echoes all of it), so replies have a larger limit of their own.
MAX_REPLY_BYTES = 256 * 1024
MAX_PAGE = 200
STATUSES = ("active", "paused", "archived")
ROLES = ("user", "assistant", "system")
# Archived is final; the rest may move freely between each other and to archived.
TRANSITIONS = {
    "active": {"active", "paused", "archived"},
    "paused": {"active", "paused", "archived"},
    "archived": {"archived"},
}
CONVERSATION_FIELDS = ("title", "personality", "instructions")
# The scope of chat-platform threads' memory facts: no agent, no events.
THREAD_SCOPE = ""

_ID = re.compile(r"^(conv|msg|mem)-([0-9]{1,15})$")


class _Transaction(Protocol):
    now: int
    broadcast: list[tuple[str, dict[str, Any]]]

    def rows(self, statement: str, *params: SqlValue) -> list[Any]: ...

    def scalar(self, statement: str, *params: SqlValue) -> Any: ...


def seq_of(identifier: Any, kind: str) -> int | None:
    """The sequence number in an id of this kind, or None for anything else."""
    match = _ID.match(identifier) if isinstance(identifier, str) else None
    if match is None or match.group(1) != kind:
        return None
    return int(match.group(2))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _agent(value: Any) -> str:
    return text(value, "agent")


def _status_row(tx: _Transaction, agent: str) -> dict[str, Any] | None:
    rows = tx.rows("SELECT * FROM agent_status WHERE agent = ?", agent)
    return dict(rows[0]) if rows else None


def _status_view(row: dict[str, Any]) -> dict[str, Any]:
    thinking = int(row["thinking"])
    return {
        "agent": row["agent"],
        "is_thinking": thinking > 0,
        "current_task": row["current_task"] if thinking > 0 else None,
        "last_activity": int(row["last_activity"]),
        "total_messages": int(row["total_messages"]),
        "active_conversations": int(row["active_conversations"]),
        "last_seq": int(row["next_seq"]) - 1,
    }


def _next_seq(tx: _Transaction, agent: str) -> int:
    """Take the agent's next sequence number, creating the agent on its first change."""
    rows = tx.rows(
        """INSERT INTO agent_status
             (agent, next_seq, thinking, current_task, last_activity, total_messages,
              active_conversations)
           VALUES (?, 2, 0, NULL, ?, 0, 0)
           ON CONFLICT (agent) DO UPDATE SET next_seq = agent_status.next_seq + 1
           RETURNING next_seq - 1 AS seq""",
        agent,
        tx.now,
    )
    return integer(rows[0]["seq"], "seq")


def _emit(tx: _Transaction, agent: str, seq: int, kind: str, data: dict[str, Any]) -> None:
    event = {"seq": seq, "type": kind, "at": tx.now, "data": data}
    tx.rows(
        "INSERT INTO agent_events (agent, seq, body) VALUES (?, ?, ?)", agent, seq, _dumps(event)
    )
    tx.broadcast.append((agent, event))


def _change_status(tx: _Transaction, agent: str, **changes: Any) -> None:
    """Apply counter deltas and fields to the status row, and log the new status."""
    row = _status_row(tx, agent)
    assert row is not None, "the agent exists once it has a sequence number"
    for name, change in changes.items():
        row[name] = row[name] + change if name != "current_task" else change
    seq = _next_seq(tx, agent)
    row["next_seq"] = seq + 1
    row["last_activity"] = tx.now
    tx.rows(
        """UPDATE agent_status SET thinking = ?, current_task = ?, last_activity = ?,
             total_messages = ?, active_conversations = ? WHERE agent = ?""",
        row["thinking"],
        row["current_task"],
        tx.now,
        row["total_messages"],
        row["active_conversations"],
        agent,
    )
    _emit(tx, agent, seq, "status.changed", _status_view(row))


def _conversation(tx: _Transaction, agent: str, conversation_id: Any) -> dict[str, Any] | None:
    seq = seq_of(conversation_id, "conv")
    if seq is None:
        return None
    body = tx.scalar("SELECT body FROM agent_conversations WHERE agent = ? AND seq = ?", agent, seq)
    return None if body is None else dict(json.loads(body))


def _save_conversation(tx: _Transaction, agent: str, conversation: dict[str, Any]) -> None:
    tx.rows(
        "INSERT INTO agent_conversations (agent, seq, body, status) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (agent, seq) DO UPDATE SET body = excluded.body, status = excluded.status",
        agent,
        seq_of(conversation["id"], "conv"),
        _dumps(conversation),
        conversation["status"],
    )


def _missing(what: str, identifier: Any) -> dict[str, Any]:
    return {"missing": f"no {what} {identifier!r}"}


# --- operations ------------------------------------------------------------------------------


def create_conversation(tx: _Transaction, agent: Any, fields: Any) -> dict[str, Any]:
    name = _agent(agent)
    values = json.loads(text(fields, "conversation fields"))
    seq = _next_seq(tx, name)
    conversation = {
        "id": f"conv-{seq}",
        "user_id": text(values.get("user_id"), "user_id"),
        "title": str(values.get("title", "")),
        "status": "active",
        "personality": str(values.get("personality", "")),
        "instructions": str(values.get("instructions", "")),
        "created_at": tx.now,
        "updated_at": tx.now,
    }
    _save_conversation(tx, name, conversation)
    _emit(tx, name, seq, "conversation.created", conversation)
    _change_status(tx, name, active_conversations=1)
    return {"conversation": conversation}


def update_conversation(
    tx: _Transaction, agent: Any, conversation_id: Any, patch: Any
) -> dict[str, Any]:
    name = _agent(agent)
    conversation = _conversation(tx, name, conversation_id)
    if conversation is None:
        return _missing("conversation", conversation_id)
    changes = json.loads(text(patch, "conversation patch"))
    before = conversation["status"]
    after = changes.get("status", before)
    if after not in TRANSITIONS[before]:
        return {"conflict": f"conversation {conversation_id} is {before}; it cannot become {after}"}
    updated = {
        **conversation,
        **{k: changes[k] for k in changes if k in (*CONVERSATION_FIELDS, "status")},
    }
    if updated == conversation:
        return {"conversation": conversation}
    updated["updated_at"] = tx.now
    _save_conversation(tx, name, updated)
    _emit(tx, name, _next_seq(tx, name), "conversation.updated", updated)
    if (before == "active") != (after == "active"):
        _change_status(tx, name, active_conversations=1 if after == "active" else -1)
    return {"conversation": updated}


def list_conversations(
    tx: _Transaction, agent: Any, status: Any, before: Any, limit: Any
) -> dict[str, Any]:
    """Newest first; `before` is the cursor (a conversation's sequence number)."""
    name = _agent(agent)
    count = min(integer(limit, "limit"), MAX_PAGE)
    below = None if before is None else integer(before, "before")
    rows = tx.rows(
        "SELECT seq, body FROM agent_conversations WHERE agent = ? AND (? IS NULL OR seq < ?) "
        "AND (? IS NULL OR status = ?) ORDER BY seq DESC LIMIT ?",
        name,
        below,
        below,
        status,
        status,
        count + 1,
    )
    page = [json.loads(row["body"]) for row in rows[:count]]
    more = len(rows) > count
    return {"conversations": page, "next": int(rows[count - 1]["seq"]) if more else None}


def _recent_messages(tx: _Transaction, agent: str, conversation: str, count: int) -> list[Any]:
    rows = tx.rows(
        "SELECT body FROM agent_messages WHERE agent = ? AND conversation = ? "
        "ORDER BY seq DESC LIMIT ?",
        agent,
        seq_of(conversation, "conv"),
        count,
    )
    return [json.loads(row["body"]) for row in reversed(rows)]


def get_conversation(
    tx: _Transaction, agent: Any, conversation_id: Any, recent: Any
) -> dict[str, Any]:
    name = _agent(agent)
    conversation = _conversation(tx, name, conversation_id)
    if conversation is None:
        return _missing("conversation", conversation_id)
    count = min(integer(recent, "recent"), MAX_PAGE)
    return {
        "conversation": conversation,
        "messages": _recent_messages(tx, name, conversation["id"], count),
    }


def _add_message(
    tx: _Transaction,
    agent: str,
    conversation: dict[str, Any],
    role: str,
    content: str,
    metadata: Any,
) -> dict[str, Any]:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    limit = MAX_REPLY_BYTES if role == "assistant" else MAX_CONTENT_BYTES
    if len(content.encode()) > limit:
        raise ValueError(f"{role} message content is over {limit} bytes")
    seq = _next_seq(tx, agent)
    message = {
        "id": f"msg-{seq}",
        "conversation_id": conversation["id"],
        "role": role,
        "content": content,
        "timestamp": tx.now,
        "metadata": metadata,
    }
    tx.rows(
        "INSERT INTO agent_messages (agent, conversation, seq, body) VALUES (?, ?, ?, ?)",
        agent,
        seq_of(conversation["id"], "conv"),
        seq,
        _dumps(message),
    )
    _emit(tx, agent, seq, "message.added", message)
    return message


def _memory(tx: _Transaction, agent: str, conversation: str) -> list[Any]:
    rows = tx.rows(
        "SELECT body FROM agent_memory WHERE agent = ? AND conversation = ? ORDER BY seq",
        agent,
        conversation,
    )
    return [json.loads(row["body"]) for row in rows]


def begin_chat(
    tx: _Transaction,
    agent: Any,
    conversation_id: Any,
    request: Any,
    content: Any,
    metadata: Any,
    history: Any,
    lease_ms: Any,
) -> dict[str, Any]:
    """Store the user's message and mark the agent thinking, unless `request` (idempotency key
    and body fingerprint) was seen: then the stored response, or the message to resume from.

    Returns what the responder needs: the conversation, recent messages and memory facts.
    """
    name = _agent(agent)
    conversation = _conversation(tx, name, conversation_id)
    if conversation is None:
        return _missing("conversation", conversation_id)
    lease_until = tx.now + integer(lease_ms, "lease_ms")
    user_message = None
    fresh = False
    if request is not None:
        key, fingerprint = text(request[0], "request key"), text(request[1], "fingerprint")
        rows = tx.rows("SELECT * FROM agent_requests WHERE agent = ? AND key = ?", name, key)
        if rows:
            seen = rows[0]
            if seen["fingerprint"] != fingerprint:
                return {"key_reused": f"Idempotency-Key {key!r} was used with another body"}
            if seen["response"] is not None:
                return {"replay": json.loads(seen["response"])}
            if int(seen["leased_until"]) > tx.now:
                return {"in_progress": f"a request with Idempotency-Key {key!r} is running"}
            # Its responder died: resume from the message it stored.
            user_message = _message(tx, name, conversation["id"], int(seen["user_message"]))
            tx.rows(
                "UPDATE agent_requests SET leased_until = ? WHERE agent = ? AND key = ?",
                lease_until,
                name,
                key,
            )
    if user_message is None:
        if conversation["status"] == "archived":
            return {"conflict": f"conversation {conversation['id']} is archived"}
        user_message = _add_message(
            tx, name, conversation, "user", text(content, "content"), metadata
        )
        fresh = True
        if request is not None:
            tx.rows(
                "INSERT INTO agent_requests "
                "(agent, key, fingerprint, user_message, response, leased_until) "
                "VALUES (?, ?, ?, ?, NULL, ?)",
                name,
                request[0],
                request[1],
                seq_of(user_message["id"], "msg"),
                lease_until,
            )
    _change_status(
        tx,
        name,
        thinking=1,
        current_task=f"replying in {conversation['id']}",
        total_messages=1 if fresh else 0,
    )
    count = min(integer(history, "history"), MAX_PAGE)
    return {
        "conversation": conversation,
        "message": user_message,
        "history": _recent_messages(tx, name, conversation["id"], count),
        "memory": _memory(tx, name, conversation["id"]),
    }


def _message(tx: _Transaction, agent: str, conversation: str, seq: int) -> dict[str, Any]:
    body = tx.scalar(
        "SELECT body FROM agent_messages WHERE agent = ? AND conversation = ? AND seq = ?",
        agent,
        seq_of(conversation, "conv"),
        seq,
    )
    return dict(json.loads(body))


def finish_chat(
    tx: _Transaction,
    agent: Any,
    conversation_id: Any,
    request: Any,
    user_message: Any,
    reply: Any,
    metadata: Any,
) -> dict[str, Any]:
    """Store the reply, record the response under the request key, and stop thinking."""
    name = _agent(agent)
    conversation = _conversation(tx, name, conversation_id)
    if conversation is None:
        return _missing("conversation", conversation_id)
    key = None if request is None else text(request[0], "request key")
    if key is not None:
        done = tx.scalar(
            "SELECT response FROM agent_requests WHERE agent = ? AND key = ?", name, key
        )
        if done is not None:
            # A resumed retry finished first; this reply is dropped, not stored twice.
            _change_status(tx, name, thinking=-1, current_task=None)
            return {"replay": json.loads(done)}
    answer = _add_message(tx, name, conversation, "assistant", text(reply, "reply"), metadata)
    response = {"message": user_message, "reply": answer}
    if key is not None:
        tx.rows(
            "UPDATE agent_requests SET response = ? WHERE agent = ? AND key = ?",
            _dumps(response),
            name,
            key,
        )
    _change_status(tx, name, thinking=-1, current_task=None, total_messages=1)
    return response


def abandon_chat(tx: _Transaction, agent: Any, request: Any) -> None:
    """The responder failed: stop thinking; a retry with the same key may resume at once."""
    name = _agent(agent)
    if request is not None:
        tx.rows(
            "UPDATE agent_requests SET leased_until = 0 WHERE agent = ? AND key = ?",
            name,
            text(request[0], "request key"),
        )
    _change_status(tx, name, thinking=-1, current_task=None)


def add_memory(tx: _Transaction, agent: Any, conversation_id: Any, fact: Any) -> dict[str, Any]:
    name = _agent(agent)
    statement = text(fact, "fact")
    if len(statement.encode()) > MAX_CONTENT_BYTES:
        raise ValueError(f"a memory fact is over {MAX_CONTENT_BYTES} bytes")
    if name == THREAD_SCOPE:
        # A chat-platform thread: the thread id is the conversation; no agent, no events.
        seq = integer(
            tx.scalar(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM agent_memory WHERE agent = '' AND conversation = ?",
                text(conversation_id, "thread_id"),
            ),
            "seq",
        )
        conversation = text(conversation_id, "thread_id")
    else:
        found = _conversation(tx, name, conversation_id)
        if found is None:
            return _missing("conversation", conversation_id)
        conversation = found["id"]
        seq = _next_seq(tx, name)
    memory = {
        "id": f"mem-{seq}",
        "conversation_id": conversation,
        "fact": statement,
        "created_at": tx.now,
    }
    tx.rows(
        "INSERT INTO agent_memory (agent, conversation, seq, body) VALUES (?, ?, ?, ?)",
        name,
        conversation,
        seq,
        _dumps(memory),
    )
    if name != THREAD_SCOPE:
        _emit(tx, name, seq, "memory.added", memory)
    return {"memory": memory}


def list_memory(tx: _Transaction, agent: Any, conversation_id: Any) -> dict[str, Any]:
    name = _agent(agent)
    if name == THREAD_SCOPE:
        return {"memory": _memory(tx, name, text(conversation_id, "thread_id"))}
    if _conversation(tx, name, conversation_id) is None:
        return _missing("conversation", conversation_id)
    return {"memory": _memory(tx, name, conversation_id)}


def agent_status(tx: _Transaction, agent: Any) -> dict[str, Any] | None:
    row = _status_row(tx, _agent(agent))
    return None if row is None else _status_view(row)


def events_after(tx: _Transaction, agent: Any, after: Any, limit: Any) -> list[Any]:
    rows = tx.rows(
        "SELECT body FROM agent_events WHERE agent = ? AND seq > ? ORDER BY seq LIMIT ?",
        _agent(agent),
        integer(after, "after"),
        min(integer(limit, "limit"), MAX_PAGE * 5),
    )
    return [json.loads(row["body"]) for row in rows]


def live_chunk(tx: _Transaction, agent: Any, chunk: Any) -> None:
    """A streamed piece of a reply: to the live sockets, not to the log (it is not a change)."""
    tx.broadcast.append((_agent(agent), json.loads(text(chunk, "chunk"))))


OPERATIONS: dict[str, Callable[..., Any]] = {
    "agent_create_conversation": create_conversation,
    "agent_update_conversation": update_conversation,
    "agent_list_conversations": list_conversations,
    "agent_get_conversation": get_conversation,
    "agent_begin_chat": begin_chat,
    "agent_finish_chat": finish_chat,
    "agent_abandon_chat": abandon_chat,
    "agent_add_memory": add_memory,
    "agent_list_memory": list_memory,
    "agent_status": agent_status,
    "agent_events_after": events_after,
    "agent_live_chunk": live_chunk,
}
