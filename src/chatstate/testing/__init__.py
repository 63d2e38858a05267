"""Test a bot in process: `BotTester(setup)` drives its handlers through Telegram, Slack and the
console's chat box, with virtual time, and reads back what it sent and stored."""

from chatstate.testing.harness import BotTester, Reply, VirtualTime
from chatstate.testing.platform_apis import ApiCall

__all__ = ["ApiCall", "BotTester", "Reply", "VirtualTime"]
