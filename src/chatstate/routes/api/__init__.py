"""The conversation API: REST routes under /api/agents/{agent}/ and the live socket's rules."""
