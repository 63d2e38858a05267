"""How messages arriving in one conversation while a handler runs are treated (reference 3.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Strategy = Literal["drop", "queue", "debounce", "burst", "concurrent"]
QueueFull = Literal["drop-oldest", "drop-newest"]

STRATEGIES: tuple[Strategy, ...] = ("drop", "queue", "debounce", "burst", "concurrent")


@dataclass(frozen=True)
class Concurrency:
    """The reference's defaults: drop, 1.5 s debounce, 10 queued, drop-oldest, 90 s entry TTL.

    - drop: a message that finds its conversation busy is dropped.
    - queue: it waits; when the handler finishes, the latest waiting message is handled with
      the earlier ones as `context.skipped`.
    - debounce: handle only the last message of a burst, once the conversation has been quiet
      for `debounce_ms`.
    - burst: the first message waits `debounce_ms`, then the latest is handled with the others
      as `context.skipped`.
    - concurrent: no lock; up to `max_concurrent` handlers at once (None: unlimited).
    """

    strategy: Strategy = "drop"
    debounce_ms: int = 1_500
    max_queue_size: int = 10
    on_queue_full: QueueFull = "drop-oldest"
    queue_entry_ttl_ms: int = 90_000
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}"
            )
        if self.on_queue_full not in ("drop-oldest", "drop-newest"):
            raise ValueError(
                f"on_queue_full must be 'drop-oldest' or 'drop-newest', not {self.on_queue_full!r}"
            )
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, not {self.max_concurrent}")
        if self.max_queue_size < 1:
            raise ValueError(f"max_queue_size must be at least 1, not {self.max_queue_size}")
        for name in ("debounce_ms", "queue_entry_ttl_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def uses_lock(self) -> bool:
        return self.strategy != "concurrent"
