"""The HTTP surface: webhook routes, the conversation API and live socket, the web console."""
