"""The embedded local runtime: the same bot and routes on plain CPython, state on disk."""
