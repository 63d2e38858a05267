"""Chat state: the shard store, its schema and cleanup, the adapter that routes and batches
operations to shards, namespaced stores, value checks, and the backends (SQLite files, KV)."""
