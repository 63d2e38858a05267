"""What a streamed reply costs: API calls and shard calls for one 2,000-character answer
streamed in 100 chunks of 20 characters, 50 ms apart (a model's pace), on each platform.

In process through chatstate.testing (virtual time, so the counts are exact and repeatable);
the platforms' APIs are the fakes that follow their documented shapes.

Run: .venv/bin/python scripts/benchmark_replies.py
Prints a Markdown table; docs/benchmark.md holds the last recorded run.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from chatstate import Chat, Message, Thread
from chatstate.testing import BotTester

CHUNKS, CHUNK_CHARS, GAP_S = 100, 20, 0.05


def streaming_bot(tester: list[BotTester]) -> Any:
    async def chunks() -> AsyncIterator[str]:
        for n in range(CHUNKS):
            yield f"{n:03d}" + "x" * (CHUNK_CHARS - 4) + " "
            await tester[0].time.sleep(GAP_S)

    def setup(chat: Chat) -> None:
        @chat.on_mention
        async def answer(thread: Thread, message: Message) -> None:
            await thread.post(chunks())

    return setup


async def measure(where: str) -> tuple[Counter[str], int]:
    holder: list[BotTester] = []
    async with BotTester(streaming_bot(holder)) as bot:
        holder.append(bot)
        shard_calls = 0
        real_call = bot.state.call_shard

        async def counting(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
            nonlocal shard_calls
            shard_calls += 1
            return await real_call(shard, operations)

        bot.state.call_shard = counting
        if where == "telegram, private chat":
            await bot.telegram.private().send("go")
        elif where == "telegram, group":
            await bot.telegram.group(-100123).send("go", mention=True)
        elif where == "slack, thread":
            await bot.slack.channel("C0123").send("go", mention=True)
        else:
            await bot.web.session().send("go")
        await bot.advance(CHUNKS * GAP_S + 5)
        calls = Counter(c.method for c in bot.calls if c.method != "getMe")
        return calls, shard_calls


async def main() -> None:
    print(
        f"One reply of {CHUNKS * CHUNK_CHARS} characters, {CHUNKS} chunks {GAP_S * 1000:g} ms apart:\n"
    )
    print("| platform | API calls | of which | shard calls |")
    print("|---|---|---|---|")
    for where in ("telegram, private chat", "telegram, group", "slack, thread", "web (console)"):
        calls, shard_calls = await measure(where)
        detail = ", ".join(f"{method} {count}" for method, count in sorted(calls.items()))
        print(f"| {where} | {sum(calls.values())} | {detail or 'none'} | {shard_calls} |")


if __name__ == "__main__":
    asyncio.run(main())
