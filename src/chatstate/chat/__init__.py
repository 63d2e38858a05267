"""The chat runtime: messages, threads, handlers and the concurrency strategies."""
