"""The README's handler and its "Test your bot" example run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"


async def test_the_readme_test_passes_against_the_readme_handler() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    handler = next(b for b in blocks if "def setup(chat: Chat)" in b)
    test = next(b for b in blocks if "BotTester" in b)
    namespace: dict[str, Any] = {}
    exec(handler, namespace)
    exec(test.replace("from bot import setup\n", ""), namespace)
    await namespace["test_a_mention_subscribes_and_answers"]()
