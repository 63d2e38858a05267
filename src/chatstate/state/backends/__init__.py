"""Where shards live off Cloudflare: SQLite files with group commit, and Workers KV."""
